// libFuzzer target for the EdgeDL loader and interpreter (edgedl_engine.h), built
// with AddressSanitizer and UndefinedBehaviorSanitizer by tools/fuzz/run_libfuzzer.py.
//
// The input is a .tflite file. It is measured (ne_model_meta_bytes) and loaded
// (ne_model_load) from an exactly sized heap block at an address offset of
// 0..7, so a read past either end is seen and unaligned placement is tried. A
// refusal must come with a message. A model that loads gets its arena and is
// invoked twice on an input made from the last bytes of the data (a float input
// may so hold NaN and infinities): both outputs, and the classifier head's
// embedding if any, must be identical, since a model has no state.
//
// Sizes a board could never give are refused up front, not crashed on: more
// than MAX_META bytes of metadata, MAX_ARENA of arena or MAX_IO per input or
// output, or more than MAX_MACS multiply-accumulates per invoke (keeps every
// run quick; the sum in ne_model_macs may wrap for absurd models, which only
// means such a model is invoked).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgedl_engine.h"

#define MAX_META (4u << 20)
#define MAX_ARENA (4u << 20)
#define MAX_IO (1u << 20)
#define MAX_MACS (32u << 20)

// Stops the run with a message: libFuzzer saves the input as a crash.
static void fail(const char *what) {
    fprintf(stderr, "libfuzz_model: %s\n", what);
    abort();
}

static void check_refusal(const ne_error_t *err) {
    if (err->text[0] == 0 || memchr(err->text, 0, sizeof(err->text)) == NULL) {
        fail("a refused model came without a message");
    }
}

// The input bytes: the data's tail, repeated backwards (deterministic for an input).
static void make_input(uint8_t *input, uint32_t bytes, const uint8_t *data, size_t size) {
    size_t tail = size < 256 ? size : 256;
    for (uint32_t i = 0; i < bytes; i++) {
        input[i] = tail ? data[size - 1 - (i % tail)] : (uint8_t)(i * 131u + 7u);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0xffffffffu) {
        return 0;
    }
    uint32_t len = (uint32_t)size;
    uint32_t offset = len & 7;
    uint8_t *block = malloc(len + offset ? len + offset : 1);
    uint8_t *model = block + offset;
    memcpy(model, data, len);

    ne_error_t err;
    memset(&err, 0, sizeof(err));
    uint32_t meta_bytes = 0, work_bytes = 0;
    if (!ne_model_meta_bytes(model, len, &meta_bytes, &work_bytes, &err)) {
        check_refusal(&err);
        free(block);
        return 0;
    }
    if (meta_bytes == 0 || meta_bytes > MAX_META || work_bytes > MAX_META) {
        free(block);
        return 0;
    }
    // Exactly the sizes asked for, rounded up to the 8-byte alignment the loader requires; the
    // work area is freed as soon as the load returns (the parsed model must not point into it).
    void *meta = aligned_alloc(8, (meta_bytes + 7) & ~7u);
    void *work = aligned_alloc(8, work_bytes ? (work_bytes + 7) & ~7u : 8);
    ne_model_t *m = NULL;
    int loaded = ne_model_load(model, len, meta, meta_bytes, work, work_bytes, &m, &err);
    free(work);
    if (!loaded) {
        check_refusal(&err);
        free(meta);
        free(block);
        return 0;
    }
    if (err.text[0] != 0) {
        fail("a loaded model left an error message");
    }
    uint32_t arena_bytes = ne_model_arena_bytes(m);
    ne_io_info_t in_info, out_info, emb_info;
    ne_model_info(m, &in_info, &out_info);
    int has_embedding = ne_model_embedding_info(m, &emb_info);
    (void)ne_model_op_count(m);
    if (arena_bytes > MAX_ARENA || in_info.bytes > MAX_IO || out_info.bytes > MAX_IO ||
        (has_embedding && emb_info.bytes > MAX_IO) || ne_model_macs(m) > MAX_MACS) {
        free(meta);
        free(block);
        return 0;
    }
    void *arena = aligned_alloc(16, arena_bytes ? (arena_bytes + 15) & ~15u : 16);
    ne_model_set_arena(m, arena);

    uint8_t *input = malloc(in_info.bytes ? in_info.bytes : 1);
    uint8_t *out1 = malloc(out_info.bytes ? out_info.bytes : 1);
    uint8_t *out2 = malloc(out_info.bytes ? out_info.bytes : 1);
    make_input(input, in_info.bytes, data, size);
    uint32_t emb_bytes = has_embedding ? emb_info.bytes : 0;
    uint8_t *emb1 = malloc(emb_bytes ? emb_bytes : 1);
    uint8_t *emb2 = malloc(emb_bytes ? emb_bytes : 1);

    ne_model_invoke(m, input, out1);
    if (has_embedding) {
        ne_model_embedding(m, emb1);
    }
    // The arena's previous contents must not matter: scribble over it, run again.
    memset(arena, 0x5a, arena_bytes);
    ne_model_invoke(m, input, out2);
    if (has_embedding) {
        ne_model_embedding(m, emb2);
    }
    if (memcmp(out1, out2, out_info.bytes) != 0) {
        fail("two invokes on the same input gave different outputs");
    }
    if (emb_bytes && memcmp(emb1, emb2, emb_bytes) != 0) {
        fail("two invokes on the same input gave different embeddings");
    }

    free(emb2);
    free(emb1);
    free(out2);
    free(out1);
    free(input);
    free(arena);
    free(meta);
    free(block);
    return 0;
}
