// Models on a bare-metal core, for the exactness tests of `neuroedge.bench.mcu.run_models`: each model
// of models_input.h (generated) is loaded and invoked on its input, and its output is printed in
// hex, one line per model, to compare with TFLite Micro's. With COUNT_MACS, each output line is
// followed by one of the model's MACs per kernel (kernel_macs_t's bytes in hex).
#include "edgedl_engine.h"
#include "kernel_macs.h"
#include "models_input.h"

void out_text(const char *s);

static uint8_t meta[POOL] __attribute__((aligned(16)));
static uint8_t arena[POOL] __attribute__((aligned(16)));
static uint8_t output[MAX_OUTPUT] __attribute__((aligned(16)));

static void out_hex(const uint8_t *p, uint32_t n) {
    static const char digits[] = "0123456789abcdef";
    char piece[65];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        piece[k++] = digits[p[i] >> 4];
        piece[k++] = digits[p[i] & 15];
        if (k == 64 || i + 1 == n) {
            piece[k] = 0;
            out_text(piece);
            k = 0;
        }
    }
    out_text("\n");
}

int bench_main(void) {
    for (uint32_t m = 0; m < MODEL_COUNT; m++) {
        ne_error_t err;
        ne_model_t *model;
        ne_io_info_t in, out;
        uint32_t meta_bytes, work_bytes;  // the arena, not yet in use, is the loader's work area
        if (!ne_model_meta_bytes(MODELS[m], MODEL_SIZES[m], &meta_bytes, &work_bytes, &err) || meta_bytes > POOL
            || work_bytes > POOL || !ne_model_load(MODELS[m], MODEL_SIZES[m], meta, POOL, arena, POOL, &model, &err)
            || ne_model_arena_bytes(model) > POOL) {
            out_text("refused\n");
            continue;
        }
        ne_model_set_arena(model, arena);
        ne_model_info(model, &in, &out);
        if (in.bytes != INPUT_SIZES[m] || out.bytes > MAX_OUTPUT) {
            out_text("wrong input size\n");
            continue;
        }
        ne_model_invoke(model, INPUTS[m], output);
        out_hex(output, out.bytes);
#ifdef COUNT_MACS
        kernel_macs_t k = kernel_macs(model);
        out_hex((const uint8_t *)&k, sizeof k);
#endif
    }
    return 0;
}
