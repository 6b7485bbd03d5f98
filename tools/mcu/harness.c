// The C core on a bare-metal core, for `neuroedge bench mcu`: a recorded stream goes through the
// board's pipeline (channel selection, preprocessing, windowing, quantization, the model) and
// every window's scores are printed, so the emulated core's output can be compared with the host
// build of this same file. Instruction counts come from QEMU's trace, grouped by object file.
//
// bench_input.h (generated) holds the bundle's parameters, its .tflite and the raw frames.
#include "edgedl_engine.h"
#include "edgedl_preprocess.h"
#include "edgedl_quality.h"
#include "edgedl_stream.h"
#include "bench_input.h"
#include "kernel_macs.h"  // to report instructions per MAC by kernel

// CHUNK: raw frames preprocessed at a time, as the board's runtime does; PUSH_BYTES: bytes per
// push of the raw stream, as the USB source reads them (both in bench_input.h).

void out_text(const char *s);  // startup.c (semihosting) or the host's stdout
void finish(int code);

static int16_t raw_ring[2 * CHUNK * OUT_CHANNELS];
static uint8_t raw_partial[2 * IN_CHANNELS];
static int16_t chunk[CHUNK * OUT_CHANNELS];
static int16_t block[((CHUNK + DECIMATE - 1) / DECIMATE) * FRAME_WIDTH];
static int32_t pre_state[PRE_STATE_WORDS * OUT_CHANNELS];
static int16_t win_ring[(WINDOW + (CHUNK + DECIMATE - 1) / DECIMATE) * FRAME_WIDTH];
static uint8_t win_partial[2 * FRAME_WIDTH];
static int16_t win[WINDOW * FRAME_WIDTH];
static int8_t qin[WINDOW * FRAME_WIDTH];
static int8_t scores[CLASSES];
static uint8_t meta[META_POOL] __attribute__((aligned(16)));
static uint8_t arena[ARENA_POOL] __attribute__((aligned(16)));
static uint8_t quality_state[NE_QUALITY_CHANNEL_BYTES * OUT_CHANNELS] __attribute__((aligned(8)));
static ne_quality_t quality;

static void out_hex(const uint8_t *p, uint32_t n) {
    static const char digits[] = "0123456789abcdef";
    char line[2 * 64 + 2];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n && i < 64; i++) {
        line[k++] = digits[p[i] >> 4];
        line[k++] = digits[p[i] & 15];
    }
    line[k++] = '\n';
    line[k] = 0;
    out_text(line);
}

static void out_decimal(const char *label, uint32_t v) {
    char line[40], digits[12];
    uint32_t k = 0, n = 0;
    while (*label) {
        line[k++] = *label++;
    }
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        line[k++] = digits[--n];
    }
    line[k++] = '\n';
    line[k] = 0;
    out_text(line);
}

// The measured part: every instruction from its entry on is counted by stage.
__attribute__((noinline)) uint32_t bench_loop(ne_model_t *model) {
    static ne_stream_t raw, windows;
    static ne_pre_t pre;
    ne_stream_init(&raw, IN_CHANNELS, OUT_CHANNELS, 0, 0, CHUNK, CHUNK, 2 * CHUNK, raw_ring, raw_partial);
    ne_pre_init(&pre, OUT_CHANNELS, HIGHPASS_Q15, RECTIFY, ENVELOPE_Q15, DECIMATE, FEATURES, THRESHOLD, pre_state);
    ne_quality_init(&quality, OUT_CHANNELS, QUALITY_PERIOD, QUALITY_PHASE_STEP, QUALITY_STRIDE, quality_state);
    ne_stream_init(&windows, FRAME_WIDTH, FRAME_WIDTH, 0, 0, WINDOW, HOP,
        WINDOW + (CHUNK + DECIMATE - 1) / DECIMATE, win_ring, win_partial);
    const uint8_t *bytes = (const uint8_t *)RAW_FRAMES;
    uint32_t total = RAW_FRAME_COUNT * IN_CHANNELS * 2, n_windows = 0;
    for (uint32_t at = 0; at < total; at += PUSH_BYTES) {
        ne_stream_push(&raw, bytes + at, total - at < PUSH_BYTES ? total - at : PUSH_BYTES);
        while (ne_stream_read_window(&raw, chunk)) {
            ne_quality_update(&quality, chunk, CHUNK);  // the electrode checks, when switched on
            uint32_t kept = ne_pre_process(&pre, chunk, CHUNK, block);
            ne_stream_push(&windows, (const uint8_t *)block, kept * FRAME_WIDTH * 2);
            while (ne_stream_read_window(&windows, win)) {
                ne_quantize_window(win, WINDOW * FRAME_WIDTH, Q_MULT, Q_SHIFT, Q_ZERO_POINT, qin);
                ne_model_invoke(model, qin, scores);
                out_hex((const uint8_t *)scores, CLASSES);
                n_windows++;
            }
        }
    }
    return n_windows;
}

int bench_main(void) {
    ne_error_t err;
    ne_model_t *model;
    uint32_t meta_bytes, work_bytes;  // the arena, not yet in use, is the loader's work area
    if (!ne_model_meta_bytes(MODEL, MODEL_BYTES, &meta_bytes, &work_bytes, &err) || meta_bytes > META_POOL
        || work_bytes > ARENA_POOL || !ne_model_load(MODEL, MODEL_BYTES, meta, META_POOL, arena, ARENA_POOL, &model, &err)
        || ne_model_arena_bytes(model) > ARENA_POOL) {
        out_text("model refused\n");
        return 1;
    }
    ne_model_set_arena(model, arena);
    out_decimal("macs ", ne_model_macs(model));
    kernel_macs_t k = kernel_macs(model);
    out_decimal("macs ne_conv2d ", k.conv);
    out_decimal("macs ne_depthwise_conv2d ", k.depthwise);
    out_decimal("macs ne_fully_connected ", k.fc);
    uint32_t n = bench_loop(model);
    out_decimal("windows ", n);
    out_decimal("quality periods ", quality.periods);
    out_hex((const uint8_t *)quality.rms_x16, 2 * OUT_CHANNELS);  // compared with the host build too
    out_hex((const uint8_t *)quality.hum_permille, 2 * OUT_CHANNELS);
    return n ? 0 : 2;
}
