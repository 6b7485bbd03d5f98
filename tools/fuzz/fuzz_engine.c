// Fuzz harness for the EdgeDL loader and engine, built for the host with
// AddressSanitizer and UndefinedBehaviorSanitizer (tools/fuzz/run_fuzz.py).
//
//   fuzz_engine --iterations N --seed S SEED.tflite...
//
// Every seed must load and run from any address (offsets 0..15) with identical
// outputs. Then each iteration mutates a seed (bit flips, byte and word
// overwrites, truncation, insertions, deletions, duplicated chunks), places it
// in an exactly-sized heap block at a random offset, and loads and invokes it:
// the engine must refuse it with a message or run it, never touch memory
// outside its buffers. Deterministic for a given seed.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgedl_engine.h"

static uint64_t rng_state;

static uint64_t next_random(void) {  // splitmix64
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) {
    return n ? (uint32_t)(next_random() % n) : 0;
}

typedef struct {
    uint8_t *data;
    uint32_t len;
} blob_t;

static blob_t read_file(const char *path) {
    blob_t b = {0, 0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz: cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc((size_t)n);
    b.len = (uint32_t)n;
    if (fread(b.data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return b;
}

// Loads and invokes `model` (len bytes at any address). Returns 1 if it ran;
// on refusal copies the error text into `why`. Output bytes go to `out_copy`.
static int load_and_run(const uint8_t *model, uint32_t len, char *why, uint8_t *out_copy, uint32_t *out_len) {
    ne_error_t err;
    memset(&err, 0, sizeof(err));
    uint32_t meta_bytes, work_bytes;
    if (!ne_model_meta_bytes(model, len, &meta_bytes, &work_bytes, &err)) {
        goto refused;
    }
    void *meta = aligned_alloc(8, (meta_bytes + 7) & ~7u);
    void *work = aligned_alloc(8, (work_bytes + 7) & ~7u);
    ne_model_t *m;
    int loaded = ne_model_load(model, len, meta, meta_bytes, work, work_bytes, &m, &err);
    free(work);  // only the load uses it
    if (!loaded) {
        free(meta);
        goto refused;
    }
    uint32_t arena_bytes = ne_model_arena_bytes(m);
    void *arena = aligned_alloc(16, arena_bytes ? (arena_bytes + 15) & ~15u : 16);
    ne_model_set_arena(m, arena);
    ne_io_info_t in_info, out_info;
    ne_model_info(m, &in_info, &out_info);
    uint8_t *input = malloc(in_info.bytes ? in_info.bytes : 1);
    uint8_t *output = malloc(out_info.bytes ? out_info.bytes : 1);
    for (uint32_t i = 0; i < in_info.bytes; i++) {
        input[i] = (uint8_t)(i * 131u + 7u);  // same input for every placement of a model
    }
    if (in_info.type == NE_FLOAT32) {
        for (uint32_t i = 0; i + 4 <= in_info.bytes; i += 4) {
            float v = (float)((int)(i % 97) - 48) * 0.125f;
            memcpy(input + i, &v, 4);
        }
    }
    ne_model_invoke(m, input, output);
    if (out_copy) {
        uint32_t n = out_info.bytes < 4096 ? out_info.bytes : 4096;
        memcpy(out_copy, output, n);
        *out_len = n;
    }
    free(input);
    free(output);
    free(arena);
    free(meta);
    return 1;
refused:
    if (err.text[0] == 0 || memchr(err.text, 0, sizeof(err.text)) == NULL) {
        fprintf(stderr, "fuzz: a refused model came without a message\n");
        exit(1);
    }
    strcpy(why, err.text);
    return 0;
}

static void mutate(uint8_t **buf, uint32_t *len, uint32_t max_len) {
    uint8_t *b = *buf;
    uint32_t n = *len;
    uint32_t count = 1 + below(4);
    // In-place edits dominate: they keep the file's structure and reach deeper
    // checks; length changes mostly break the root offsets.
    static const uint8_t kinds[20] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 5, 6, 7};
    for (uint32_t k = 0; k < count; k++) {
        switch (kinds[below(20)]) {
            case 0:  // bit flips
                if (n) {
                    for (uint32_t j = 1 + below(8); j; j--) {
                        b[below(n)] ^= (uint8_t)(1u << below(8));
                    }
                }
                break;
            case 1:  // random bytes
                if (n) {
                    for (uint32_t j = 1 + below(4); j; j--) {
                        b[below(n)] = (uint8_t)next_random();
                    }
                }
                break;
            case 2:  // an interesting 32-bit value in an aligned word (offsets, lengths, indices)
                if (n >= 4) {
                    static const uint32_t values[] = {0, 1, 2, 3, 4, 0xffffffffu, 0x7fffffffu, 0x80000000u, 0xffffu,
                                                      0x10000u, 16, 255, 256, 0xfffffffcu};
                    uint32_t v = below(4) == 0 ? n - below(64) : values[below(sizeof(values) / 4)];
                    uint32_t at = below(n / 4) * 4;
                    memcpy(b + at, &v, 4);
                }
                break;
            case 3:  // a 16-bit value (vtable entries)
                if (n >= 2) {
                    uint16_t v = (uint16_t)(below(3) == 0 ? 0 : next_random());
                    uint32_t at = below(n / 2) * 2;
                    memcpy(b + at, &v, 2);
                }
                break;
            case 4:  // truncate
                n = below(n + 1);
                break;
            case 5: {  // insert a run of bytes
                uint32_t run = 1 + below(16);
                if (n + run <= max_len) {
                    uint32_t at = below(n + 1);
                    b = realloc(b, n + run);
                    memmove(b + at + run, b + at, n - at);
                    for (uint32_t j = 0; j < run; j++) {
                        b[at + j] = (uint8_t)next_random();
                    }
                    n += run;
                }
                break;
            }
            case 6: {  // delete a run of bytes
                if (n) {
                    uint32_t at = below(n), run = 1 + below(16);
                    if (run > n - at) {
                        run = n - at;
                    }
                    memmove(b + at, b + at + run, n - at - run);
                    n -= run;
                }
                break;
            }
            default: {  // copy a chunk over another place
                if (n >= 8) {
                    uint32_t run = 1 + below(n / 4);
                    uint32_t from = below(n - run + 1), to = below(n - run + 1);
                    memmove(b + to, b + from, run);
                }
                break;
            }
        }
    }
    *buf = b;
    *len = n;
}

typedef struct {
    char text[48];
    uint32_t count;
} reason_t;

static void count_reason(reason_t *reasons, uint32_t *n_reasons, const char *why) {
    char key[48];
    uint32_t k = 0;
    // Group by the message up to its first number.
    while (why[k] && k + 1 < sizeof(key) && !(why[k] >= '0' && why[k] <= '9')) {
        key[k] = why[k];
        k++;
    }
    key[k] = 0;
    for (uint32_t i = 0; i < *n_reasons; i++) {
        if (strcmp(reasons[i].text, key) == 0) {
            reasons[i].count++;
            return;
        }
    }
    if (*n_reasons < 256) {
        strcpy(reasons[*n_reasons].text, key);
        reasons[*n_reasons].count = 1;
        (*n_reasons)++;
    }
}

int main(int argc, char **argv) {
    uint32_t iterations = 1000, max_len = 1u << 20;
    uint64_t seed = 1;
    blob_t seeds[64];
    uint32_t n_seeds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            iterations = (uint32_t)strtoul(argv[++i], 0, 10);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], 0, 10);
        } else if (strcmp(argv[i], "--max-len") == 0 && i + 1 < argc) {
            max_len = (uint32_t)strtoul(argv[++i], 0, 10);
        } else if (n_seeds < 64) {
            seeds[n_seeds++] = read_file(argv[i]);
        }
    }
    if (n_seeds == 0) {
        fprintf(stderr, "usage: fuzz_engine --iterations N --seed S SEED.tflite...\n");
        return 2;
    }
    rng_state = seed;
    char why[160];
    static uint8_t first_out[4096], out[4096];

    // Every seed runs from every address offset, with identical outputs.
    for (uint32_t s = 0; s < n_seeds; s++) {
        uint32_t first_len = 0, len = 0;
        for (uint32_t offset = 0; offset < 16; offset++) {
            uint8_t *block = malloc(seeds[s].len + offset);
            memcpy(block + offset, seeds[s].data, seeds[s].len);
            if (!load_and_run(block + offset, seeds[s].len, why, offset ? out : first_out, offset ? &len : &first_len)) {
                fprintf(stderr, "fuzz: seed %u does not load at offset %u: %s\n", s, offset, why);
                return 1;
            }
            if (offset && (len != first_len || memcmp(out, first_out, len) != 0)) {
                fprintf(stderr, "fuzz: seed %u gives different outputs at offset %u\n", s, offset);
                return 1;
            }
            free(block);
        }
    }

    reason_t reasons[256];
    uint32_t n_reasons = 0, loaded = 0, rejected = 0;
    for (uint32_t it = 0; it < iterations; it++) {
        const blob_t *src = &seeds[below(n_seeds)];
        uint32_t len = src->len;
        uint8_t *work = malloc(len);
        memcpy(work, src->data, len);
        mutate(&work, &len, max_len);
        // Exactly sized block at a random offset: ASan sees any read past the end.
        uint32_t offset = below(16);
        uint8_t *block = malloc(len + offset ? len + offset : 1);
        memcpy(block + offset, work, len);
        free(work);
        if (load_and_run(block + offset, len, why, 0, 0)) {
            loaded++;
        } else {
            rejected++;
            count_reason(reasons, &n_reasons, why);
        }
        free(block);
    }
    printf("fuzz: %u iterations, %u loaded and invoked, %u rejected\n", iterations, loaded, rejected);
    for (uint32_t shown = 0; shown < 8 && n_reasons; shown++) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < n_reasons; i++) {
            if (reasons[i].count > reasons[best].count) {
                best = i;
            }
        }
        if (reasons[best].count == 0) {
            break;
        }
        printf("  %6u  %s\n", reasons[best].count, reasons[best].text);
        reasons[best].count = 0;
    }
    for (uint32_t s = 0; s < n_seeds; s++) {
        free(seeds[s].data);
    }
    return 0;
}
