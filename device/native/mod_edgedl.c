// MicroPython binding of the EdgeDL C core: `import edgedl`.
//
// One source for both builds: a dynamic native module (.mpy through
// py/dynruntime.mk, MICROPY_ENABLE_DYNRUNTIME defined) and a firmware user C
// module (micropython.mk / micropython.cmake). Only the type and module
// registration at the bottom differ between the two.
#include <stdarg.h>
#if MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#include "py/mpprint.h"
#include "py/objstr.h"
#endif
#include "edgedl_engine.h"
#include "edgedl_link.h"
#include "edgedl_preprocess.h"
#include "edgedl_quality.h"
#include "edgedl_stream.h"

#ifndef MP_NORETURN
#define MP_NORETURN NORETURN  // MicroPython < 1.25 spells it NORETURN
#endif

#define EDGEDL_VERSION "0.1.0"

// ---------------------------------------------------------------------------
// Errors that name the problem. dynruntime has no mp_raise_msg_varg, so the
// message is formatted with mp_vprintf into a fixed stack buffer.

typedef struct {
    char text[160];
    size_t len;
} message_t;

static void message_append(void *data, const char *str, size_t len) {
    message_t *m = data;
    while (len-- && m->len < sizeof(m->text)) {
        m->text[m->len++] = *str++;
    }
}

static MP_NORETURN void raise_formatted(const mp_obj_type_t *type, const char *fmt, ...) {
    message_t m;
    m.len = 0;
    mp_print_t print = {&m, message_append};
    va_list args;
    va_start(args, fmt);
    mp_vprintf(&print, fmt, args);
    va_end(args);
    nlr_raise(mp_obj_new_exception_arg1(type, mp_obj_new_str(m.text, m.len)));
}

#if MICROPY_ENABLE_DYNRUNTIME
#define EDGEDL_MEMORY_ERROR ((mp_obj_type_t *)mp_load_global(MP_QSTR_MemoryError))
// A natmod links no libc: the compiler's own calls (zeroing a local array of argument
// specs) go to the firmware's memset through its function table, as MicroPython's
// natmod examples do.
void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}
#else
#define EDGEDL_MEMORY_ERROR (&mp_type_MemoryError)
#endif

// m_malloc in a natmod returns NULL when the heap is full instead of raising
// (py/dynruntime.h), so every allocation goes through this check.
static void *alloc_or_raise(size_t bytes, const char *what) {
    void *p = m_malloc(bytes);
    if (p == NULL) {
        raise_formatted(EDGEDL_MEMORY_ERROR, "edgedl: no memory for %s (%u bytes)", what, (unsigned)bytes);
    }
    return p;
}

// A uint64 counter as a Python int (mp_int_t is 32 bits on the ESP32).
static mp_obj_t new_int_u64(uint64_t v) {
    uint32_t high = (uint32_t)(v >> 32);
    mp_obj_t low = mp_obj_new_int_from_uint((uint32_t)v);
    if (high == 0) {
        return low;
    }
    mp_obj_t high_obj = mp_binary_op(MP_BINARY_OP_LSHIFT, mp_obj_new_int_from_uint(high), MP_OBJ_NEW_SMALL_INT(32));
    return mp_binary_op(MP_BINARY_OP_OR, high_obj, low);
}

// ---------------------------------------------------------------------------
// edgedl.Stream

typedef struct {
    mp_obj_base_t base;
    ne_stream_t stream;  // its buffers are GC blocks referenced from here
} edgedl_stream_obj_t;

static mp_int_t int_arg(mp_obj_t value, const char *name, mp_int_t min) {
    mp_int_t v = mp_obj_get_int(value);
    if (v < min) {
        raise_formatted(&mp_type_ValueError, "Stream: %s must be >= %d, got %d", name, (int)min, (int)v);
    }
    return v;
}

static mp_obj_t stream_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    enum { ARG_channels, ARG_window, ARG_hop, ARG_capacity, ARG_select, ARG_counter };
    // Not static: in a natmod, qstrs are only known at load time.
    const mp_arg_t allowed_args[] = {
        { MP_QSTR_channels, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_window, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_hop, MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_capacity, MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_select, MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_counter, MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_int_t in_channels = int_arg(args[ARG_channels].u_obj, "channels", 1);
    if (in_channels > NE_STREAM_MAX_CHANNELS) {
        raise_formatted(&mp_type_ValueError, "Stream: channels must be 1..%d (Quattrocento maximum), got %d",
            NE_STREAM_MAX_CHANNELS, (int)in_channels);
    }
    mp_int_t window = int_arg(args[ARG_window].u_obj, "window", 1);
    mp_int_t hop = window;
    if (args[ARG_hop].u_obj != MP_OBJ_NULL && args[ARG_hop].u_obj != mp_const_none) {
        hop = int_arg(args[ARG_hop].u_obj, "hop", 1);
    }
    mp_int_t capacity = 4 * window;
    if (args[ARG_capacity].u_obj != MP_OBJ_NULL && args[ARG_capacity].u_obj != mp_const_none) {
        capacity = int_arg(args[ARG_capacity].u_obj, "capacity", 1);
    }
    if (capacity < window) {
        raise_formatted(&mp_type_ValueError, "Stream: capacity (%d frames) must hold at least one window (%d frames)",
            (int)capacity, (int)window);
    }

    // Channel selection: any sequence of ints (list, tuple, range, array).
    // A run of consecutive indices is stored as a range and copied without a table.
    mp_obj_t select_obj = args[ARG_select].u_obj;
    mp_int_t out_channels = in_channels;
    mp_int_t select_first = 0;
    uint16_t *select = NULL;
    if (select_obj != MP_OBJ_NULL && select_obj != mp_const_none) {
        out_channels = mp_obj_get_int(mp_obj_len(select_obj));
        if (out_channels < 1 || out_channels > in_channels) {
            raise_formatted(&mp_type_ValueError, "Stream: select must keep 1..%d channels, got %d",
                (int)in_channels, (int)out_channels);
        }
        select = alloc_or_raise(sizeof(uint16_t) * out_channels, "the channel selection");
        int contiguous = 1;
        for (mp_int_t i = 0; i < out_channels; i++) {
            mp_int_t ch = mp_obj_get_int(mp_obj_subscr(select_obj, MP_OBJ_NEW_SMALL_INT(i), MP_OBJ_SENTINEL));
            if (ch < 0 || ch >= in_channels) {
                raise_formatted(&mp_type_ValueError, "Stream: select[%d] = %d is outside 0..%d",
                    (int)i, (int)ch, (int)(in_channels - 1));
            }
            select[i] = (uint16_t)ch;
            contiguous &= ch == select[0] + i;
        }
        if (contiguous) {
            select_first = select[0];
            m_free(select);
            select = NULL;
        }
    }

    ne_stream_error_t err = ne_stream_check_config(in_channels, out_channels, select_first, select,
        window, hop, capacity);
    if (err == NE_STREAM_E_SELECT_DUPLICATE) {
        raise_formatted(&mp_type_ValueError, "Stream: select lists a channel twice");
    } else if (err == NE_STREAM_E_CAPACITY) {
        raise_formatted(&mp_type_ValueError, "Stream: capacity %d x %d channels is too large",
            (int)capacity, (int)out_channels);
    } else if (err != NE_STREAM_OK) {
        // Every other code was ruled out by the checks above.
        raise_formatted(&mp_type_ValueError, "Stream: invalid configuration (code %d)", (int)err);
    }

    // All memory is taken here, once: push and read never allocate.
    int16_t *ring = alloc_or_raise(sizeof(int16_t) * (size_t)capacity * out_channels,
        "the ring buffer (capacity x channels x 2)");
    uint8_t *partial = alloc_or_raise(2 * (size_t)in_channels, "the partial-frame buffer");
    edgedl_stream_obj_t *self = alloc_or_raise(sizeof(edgedl_stream_obj_t), "the Stream object");
    self->base.type = type;
    ne_stream_init(&self->stream, in_channels, out_channels, select_first, select,
        window, hop, capacity, ring, partial);
    mp_obj_t counter = args[ARG_counter].u_obj;
    if (counter != MP_OBJ_NULL && counter != mp_const_none) {
        mp_int_t ch = mp_obj_get_int(counter);
        if (!ne_stream_set_counter(&self->stream, (int32_t)ch)) {
            raise_formatted(&mp_type_ValueError, "Stream: counter channel %d is outside 0..%d", (int)ch,
                (int)(in_channels - 1));
        }
    }
    return MP_OBJ_FROM_PTR(self);
}

// The binding's one buffer rule: obj's buffer, readable or writable, whose typecode is one of
// `typecodes` (NULL: any; raw bytes report 'B' for bytes and memoryview, 1 for bytearray). A str
// is refused: text is never data. TypeError "<what> must be <wanted>" names the problem; an
// array of a refused type gets `wrong_type` appended when given.
#define RAW_BYTES "B\x01"
static mp_buffer_info_t typed_buffer(mp_obj_t obj, int writable, const char *typecodes, const char *what,
    const char *wanted, const char *wrong_type) {
    mp_buffer_info_t bufinfo;
    if (mp_obj_is_str(obj) || !mp_get_buffer(obj, &bufinfo, writable ? MP_BUFFER_WRITE : MP_BUFFER_READ)) {
        raise_formatted(&mp_type_TypeError, "%s must be %s", what, wanted);
    }
    if (typecodes) {
        const char *t = typecodes;
        while (*t && *t != bufinfo.typecode) {
            t++;
        }
        if (!*t) {
            raise_formatted(&mp_type_TypeError, "%s must be %s%s", what, wanted, wrong_type ? wrong_type : "");
        }
    }
    return bufinfo;
}

// push(data) -> frames completed. data: any bytes-like object of
// little-endian int16 frames, cut anywhere.
static mp_obj_t stream_push(mp_obj_t self_in, mp_obj_t data) {
    edgedl_stream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_buffer_info_t bufinfo = typed_buffer(data, 0, NULL, "Stream.push: data",
        "bytes-like (bytes, bytearray, memoryview, array)", NULL);
    uint32_t frames = ne_stream_push(&self->stream, bufinfo.buf, bufinfo.len);
    return mp_obj_new_int_from_uint(frames);
}
static MP_DEFINE_CONST_FUN_OBJ_2(stream_push_obj, stream_push);

// read(out) -> True if the next window was copied into out, else False.
// out: array('h') of window * channels items, filled time-major.
static mp_obj_t stream_read(mp_obj_t self_in, mp_obj_t out) {
    edgedl_stream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_stream_t *s = &self->stream;
    mp_buffer_info_t bufinfo = typed_buffer(out, 1, "h", "Stream.read: out", "a writable array('h')", NULL);
    size_t items = (size_t)s->window * s->out_channels;
    if (bufinfo.len != items * sizeof(int16_t)) {
        raise_formatted(&mp_type_ValueError, "Stream.read: out has %d items, window needs %d (%d frames x %d channels)",
            (int)(bufinfo.len / sizeof(int16_t)), (int)items, (int)s->window, (int)s->out_channels);
    }
    return mp_obj_new_bool(ne_stream_read_window(s, bufinfo.buf));
}
static MP_DEFINE_CONST_FUN_OBJ_2(stream_read_obj, stream_read);

// ready() -> windows that read() can produce now.
static mp_obj_t stream_ready(mp_obj_t self_in) {
    edgedl_stream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return mp_obj_new_int_from_uint(ne_stream_windows_ready(&self->stream));
}
static MP_DEFINE_CONST_FUN_OBJ_1(stream_ready_obj, stream_ready);

// stats() -> dict of counters.
static mp_obj_t stream_stats(mp_obj_t self_in) {
    edgedl_stream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_stream_t *s = &self->stream;
    mp_obj_t d = mp_obj_new_dict(8);
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_frames_pushed), new_int_u64(s->frames_pushed));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_frames_dropped), new_int_u64(s->frames_dropped));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_windows), new_int_u64(s->windows));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_windows_ready), mp_obj_new_int_from_uint(ne_stream_windows_ready(s)));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_frames_held), mp_obj_new_int_from_uint(s->held));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_bytes_pending), mp_obj_new_int_from_uint(s->partial_len));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_counter_gaps), new_int_u64(s->counter_gaps));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_frames_lost), new_int_u64(s->frames_lost));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_bytes_discarded), new_int_u64(s->bytes_discarded));
    return d;
}
static MP_DEFINE_CONST_FUN_OBJ_1(stream_stats_obj, stream_stats);

// reset(): forget buffered frames and zero the counters.
static mp_obj_t stream_reset(mp_obj_t self_in) {
    edgedl_stream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_stream_reset(&self->stream);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(stream_reset_obj, stream_reset);

// resync(): after a broken connection, drop the torn frame; returns its bytes.
static mp_obj_t stream_resync(mp_obj_t self_in) {
    edgedl_stream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return mp_obj_new_int_from_uint(ne_stream_resync(&self->stream));
}
static MP_DEFINE_CONST_FUN_OBJ_1(stream_resync_obj, stream_resync);

// Read-only configuration attributes; methods fall through to locals_dict.
static void stream_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] != MP_OBJ_NULL) {
        return;  // store/delete: not supported
    }
    edgedl_stream_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_stream_t *s = &self->stream;
    if (attr == MP_QSTR_channels) {
        dest[0] = MP_OBJ_NEW_SMALL_INT(s->out_channels);
    } else if (attr == MP_QSTR_in_channels) {
        dest[0] = MP_OBJ_NEW_SMALL_INT(s->in_channels);
    } else if (attr == MP_QSTR_window) {
        dest[0] = mp_obj_new_int_from_uint(s->window);
    } else if (attr == MP_QSTR_hop) {
        dest[0] = mp_obj_new_int_from_uint(s->hop);
    } else if (attr == MP_QSTR_capacity) {
        dest[0] = mp_obj_new_int_from_uint(s->capacity);
    } else if (attr == MP_QSTR_frames_pushed) {
        dest[0] = new_int_u64(s->frames_pushed);  // the counter without stats()'s dict
    } else if (attr == MP_QSTR_bytes_pending) {
        // Bytes of an unfinished frame held for the next push: where the last whole frame of
        // a received buffer ends, without stats()'s dict.
        dest[0] = MP_OBJ_NEW_SMALL_INT(s->partial_len);
    } else if (attr == MP_QSTR_room) {
        // Frames a push can add before it overwrites unread ones: lets a receiver that may
        // wait (replay from a file) apply backpressure instead of dropping.
        dest[0] = mp_obj_new_int_from_uint(s->capacity - s->held);
    } else {
        dest[1] = MP_OBJ_SENTINEL;  // continue lookup in locals_dict
    }
}


// ---------------------------------------------------------------------------
// edgedl.Model

typedef struct {
    mp_obj_base_t base;
    mp_obj_t model_bytes;   // keeps the flatbuffer alive: weights are used in place
    ne_model_t *model;      // inside `meta`
    void *meta;
    void *arena;
    uint32_t meta_bytes;
    ne_io_info_t input, output;
    ne_io_info_t embedding;  // bytes == 0: the model has no classifier head
} edgedl_model_obj_t;

static mp_obj_t model_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    mp_buffer_info_t bufinfo = typed_buffer(args[0], 0, NULL, "Model: expected the .tflite file's bytes: the model",
        "bytes-like", NULL);
    // A mutable buffer could be resized or freed under us: keep an immutable copy.
    mp_obj_t model_bytes = args[0];
    if (!mp_obj_is_type(args[0], &mp_type_bytes)) {
        model_bytes = mp_obj_new_bytes(bufinfo.buf, bufinfo.len);
        mp_get_buffer(model_bytes, &bufinfo, MP_BUFFER_READ);
    }
    if (bufinfo.len > 0x7fffffff) {
        raise_formatted(&mp_type_ValueError, "Model: file too large");
    }
    ne_error_t err;
    err.text[0] = 0;
    uint32_t meta_bytes, work_bytes;
    if (!ne_model_meta_bytes(bufinfo.buf, (uint32_t)bufinfo.len, &meta_bytes, &work_bytes, &err)) {
        raise_formatted(&mp_type_ValueError, "Model: %s", err.text);
    }
    void *meta = alloc_or_raise(meta_bytes, "the parsed model");
    void *work = alloc_or_raise(work_bytes, "the loader's work area");  // freed once loaded
    ne_model_t *model;
    int loaded = ne_model_load(bufinfo.buf, (uint32_t)bufinfo.len, meta, meta_bytes, work, work_bytes, &model, &err);
    m_free(work);
    if (!loaded) {
        raise_formatted(&mp_type_ValueError, "Model: %s", err.text);
    }
    uint32_t arena_bytes = ne_model_arena_bytes(model);
    void *arena = alloc_or_raise(arena_bytes ? arena_bytes : 16, "the tensor arena");
    ne_model_set_arena(model, arena);
    edgedl_model_obj_t *self = alloc_or_raise(sizeof(edgedl_model_obj_t), "the Model object");
    self->base.type = type;
    self->model_bytes = model_bytes;
    self->model = model;
    self->meta = meta;
    self->arena = arena;
    self->meta_bytes = meta_bytes;
    ne_model_info(model, &self->input, &self->output);
    if (!ne_model_embedding_info(model, &self->embedding)) {
        self->embedding.bytes = 0;
    }
    return MP_OBJ_FROM_PTR(self);
}

// A buffer for a tensor: array('b') or raw bytes for int8, array('f') or raw bytes for float32,
// of the tensor's size. what: "Model.invoke: input"; name: "input".
static void *tensor_buffer(mp_obj_t obj, const ne_io_info_t *info, int writable, const char *what, const char *name) {
    static const char *const wanted[2][2] = {{"a array('f') or bytes-like", "a writable array('f') or bytes-like"},
                                             {"a array('b') or bytes-like", "a writable array('b') or bytes-like"}};
    int int8 = info->type == NE_INT8;
    mp_buffer_info_t bufinfo = typed_buffer(obj, writable, int8 ? "b" RAW_BYTES : "f" RAW_BYTES, what,
        wanted[int8][writable != 0], ", not an array of another type");
    if (bufinfo.len != info->bytes) {
        raise_formatted(&mp_type_ValueError, "%s has %d bytes, the model's %s tensor needs %d",
            what, (int)bufinfo.len, name, (int)info->bytes);
    }
    return bufinfo.buf;
}

// invoke(input, output): runs the model; output is filled in place.
static mp_obj_t model_invoke(mp_obj_t self_in, mp_obj_t input, mp_obj_t output) {
    edgedl_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    const void *in = tensor_buffer(input, &self->input, 0, "Model.invoke: input", "input");
    void *out = tensor_buffer(output, &self->output, 1, "Model.invoke: output", "output");
    ne_model_invoke(self->model, in, out);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(model_invoke_obj, model_invoke);

// embedding(out): copies the classifier head's int8 input of the last invoke into out.
static mp_obj_t model_embedding(mp_obj_t self_in, mp_obj_t out) {
    edgedl_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->embedding.bytes) {
        raise_formatted(&mp_type_ValueError, "Model.embedding: this model has no classifier head "
            "(FULLY_CONNECTED -> SOFTMAX at its end)");
    }
    mp_buffer_info_t bufinfo = typed_buffer(out, 1, "b\x01", "Model.embedding: out", "a writable array('b') or bytearray",
        NULL);
    if (bufinfo.len != self->embedding.bytes) {
        raise_formatted(&mp_type_ValueError, "Model.embedding: out has %d bytes, the embedding needs %d",
            (int)bufinfo.len, (int)self->embedding.bytes);
    }
    ne_model_embedding(self->model, bufinfo.buf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(model_embedding_obj, model_embedding);

static mp_obj_t shape_tuple(const ne_io_info_t *info) {
    mp_obj_t dims[NE_MAX_RANK];
    for (int i = 0; i < info->rank; i++) {
        dims[i] = MP_OBJ_NEW_SMALL_INT(info->dims[i]);
    }
    return mp_obj_new_tuple(info->rank, dims);
}

static mp_obj_t quant_tuple(const ne_io_info_t *info) {
    union {
        uint32_t u;
        float f;
    } scale = {info->scale_bits};
    mp_obj_t items[2] = {mp_obj_new_float_from_f(scale.f), MP_OBJ_NEW_SMALL_INT(info->zero_point)};
    return mp_obj_new_tuple(2, items);
}

static mp_obj_t dtype_str(const ne_io_info_t *info) {
    return info->type == NE_INT8 ? MP_OBJ_NEW_QSTR(MP_QSTR_int8) : MP_OBJ_NEW_QSTR(MP_QSTR_float32);
}

static void model_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] != MP_OBJ_NULL) {
        return;
    }
    edgedl_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (attr == MP_QSTR_input_shape) {
        dest[0] = shape_tuple(&self->input);
    } else if (attr == MP_QSTR_output_shape) {
        dest[0] = shape_tuple(&self->output);
    } else if (attr == MP_QSTR_input_dtype) {
        dest[0] = dtype_str(&self->input);
    } else if (attr == MP_QSTR_output_dtype) {
        dest[0] = dtype_str(&self->output);
    } else if (attr == MP_QSTR_input_quantization) {
        dest[0] = quant_tuple(&self->input);
    } else if (attr == MP_QSTR_output_quantization) {
        dest[0] = quant_tuple(&self->output);
    } else if (attr == MP_QSTR_embedding_shape) {
        dest[0] = self->embedding.bytes ? shape_tuple(&self->embedding) : mp_const_none;
    } else if (attr == MP_QSTR_embedding_quantization) {
        dest[0] = self->embedding.bytes ? quant_tuple(&self->embedding) : mp_const_none;
    } else if (attr == MP_QSTR_arena_bytes) {
        dest[0] = mp_obj_new_int_from_uint(ne_model_arena_bytes(self->model));
    } else if (attr == MP_QSTR_meta_bytes) {
        dest[0] = mp_obj_new_int_from_uint(self->meta_bytes);
    } else if (attr == MP_QSTR_ops) {
        dest[0] = mp_obj_new_int_from_uint(ne_model_op_count(self->model));
    } else if (attr == MP_QSTR_macs) {
        dest[0] = mp_obj_new_int_from_uint(ne_model_macs(self->model));
    } else {
        dest[1] = MP_OBJ_SENTINEL;
    }
}

// ---------------------------------------------------------------------------
// edgedl.Preprocess and edgedl.quantize

typedef struct {
    mp_obj_base_t base;
    ne_pre_t pre;  // state block is a GC allocation referenced from here
} edgedl_pre_obj_t;

static mp_obj_t pre_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    enum { ARG_channels, ARG_highpass_q15, ARG_rectify, ARG_envelope_q15, ARG_decimate, ARG_features, ARG_threshold };
    const mp_arg_t allowed_args[] = {
        { MP_QSTR_channels, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_highpass_q15, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_rectify, MP_ARG_BOOL, {.u_bool = false} },
        { MP_QSTR_envelope_q15, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_decimate, MP_ARG_INT, {.u_int = 1} },
        { MP_QSTR_features, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_threshold, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    mp_int_t channels = args[ARG_channels].u_int, hp = args[ARG_highpass_q15].u_int;
    mp_int_t env = args[ARG_envelope_q15].u_int, decimate = args[ARG_decimate].u_int;
    mp_int_t features = args[ARG_features].u_int, threshold = args[ARG_threshold].u_int;
    ne_pre_status_t err = ne_pre_check(channels < 0 ? 0 : (uint32_t)channels, (int32_t)hp, args[ARG_rectify].u_bool,
        (int32_t)env, decimate < 0 ? 0 : (uint32_t)decimate, features < 0 ? ~0u : (uint32_t)features,
        (int32_t)threshold);
    if (err == NE_PRE_BAD_CHANNELS) {
        raise_formatted(&mp_type_ValueError, "Preprocess: channels must be 1..%d, got %d", NE_PRE_MAX_CHANNELS,
            (int)channels);
    } else if (err == NE_PRE_BAD_FILTER) {
        raise_formatted(&mp_type_ValueError, "Preprocess: highpass_q15 and envelope_q15 must be 0..32767");
    } else if (err == NE_PRE_BAD_DECIMATE) {
        raise_formatted(&mp_type_ValueError, "Preprocess: decimate must be 1..%d, got %d", NE_PRE_MAX_DECIMATE,
            (int)decimate);
    } else if (err == NE_PRE_BAD_FEATURES) {
        raise_formatted(&mp_type_ValueError, "Preprocess: features must be a mask of 1..15 (log MAV, log WL, ZC, SSC), "
            "plus 16 for ring differences, without rectify or envelope, got %d", (int)features);
    } else if (err) {
        raise_formatted(&mp_type_ValueError, "Preprocess: threshold must be 0..32767 counts, got %d", (int)threshold);
    }
    int32_t *state = alloc_or_raise(NE_PRE_STATE_WORDS((uint32_t)features) * sizeof(int32_t) * (size_t)channels,
        "the filter state");
    edgedl_pre_obj_t *self = alloc_or_raise(sizeof(edgedl_pre_obj_t), "the Preprocess object");
    self->base.type = type;
    ne_pre_init(&self->pre, (uint32_t)channels, (int32_t)hp, args[ARG_rectify].u_bool, (int32_t)env,
        (uint32_t)decimate, (uint32_t)features, (int32_t)threshold, state);
    return MP_OBJ_FROM_PTR(self);
}

// Read-only: width (values per output frame), signals (channels, twice that with ring
// differences) and state_bytes (the filter state's size).
static void pre_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] != MP_OBJ_NULL) {
        return;
    }
    edgedl_pre_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (attr == MP_QSTR_width) {
        dest[0] = mp_obj_new_int_from_uint(self->pre.width);
    } else if (attr == MP_QSTR_signals) {
        dest[0] = mp_obj_new_int_from_uint(self->pre.signals);
    } else if (attr == MP_QSTR_state_bytes) {
        dest[0] = mp_obj_new_int_from_uint(NE_PRE_STATE_WORDS(self->pre.features) * sizeof(int32_t) * self->pre.channels);
    } else {
        dest[1] = MP_OBJ_SENTINEL;
    }
}

static int16_t *int16_buffer(mp_obj_t obj, int writable, size_t *items, const char *what) {
    mp_buffer_info_t bufinfo = typed_buffer(obj, writable, "h", what, writable ? "a writable array('h')" : "an array('h')",
        NULL);
    *items = bufinfo.len / sizeof(int16_t);
    return bufinfo.buf;
}

// process(frames_in, frames_out) -> frames written. Both array('h'), time-major; frames_out holds
// frames of `width` values (channels x features with features on);
// frames_out may be frames_in (in place).
static mp_obj_t pre_process(mp_obj_t self_in, mp_obj_t in_obj, mp_obj_t out_obj) {
    edgedl_pre_obj_t *self = MP_OBJ_TO_PTR(self_in);
    size_t n_in, n_out;
    const int16_t *in = int16_buffer(in_obj, 0, &n_in, "Preprocess.process: frames_in");
    int16_t *out = int16_buffer(out_obj, 1, &n_out, "Preprocess.process: frames_out");
    uint32_t ch = self->pre.channels;
    if (n_in % ch) {
        raise_formatted(&mp_type_ValueError, "Preprocess.process: %d samples are not whole frames of %d channels",
            (int)n_in, (int)ch);
    }
    uint32_t frames = (uint32_t)(n_in / ch);
    uint32_t most = (frames + self->pre.decimate - 1) / self->pre.decimate;
    if (n_out < (size_t)most * self->pre.width) {
        raise_formatted(&mp_type_ValueError, "Preprocess.process: frames_out holds %d samples, needs %d",
            (int)n_out, (int)(most * self->pre.width));
    }
    if (self->pre.features && out == in) {
        raise_formatted(&mp_type_ValueError, "Preprocess.process: with features, frames_out must be another buffer");
    }
    return mp_obj_new_int_from_uint(ne_pre_process(&self->pre, in, frames, out));
}
static MP_DEFINE_CONST_FUN_OBJ_3(pre_process_obj, pre_process);

static mp_obj_t pre_reset(mp_obj_t self_in) {
    edgedl_pre_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_pre_reset(&self->pre);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pre_reset_obj, pre_reset);

// quantize(window_h, out_b, mult, shift, zero_point): int16 window -> int8 model input.
static mp_obj_t edgedl_quantize(size_t n_args, const mp_obj_t *args) {
    size_t n_in;
    const int16_t *in = int16_buffer(args[0], 0, &n_in, "quantize: window");
    mp_buffer_info_t bufinfo = typed_buffer(args[1], 1, "b" RAW_BYTES, "quantize: out",
        "a writable array('b') or bytearray", NULL);
    if (bufinfo.len != n_in) {
        raise_formatted(&mp_type_ValueError, "quantize: out has %d items, window has %d", (int)bufinfo.len, (int)n_in);
    }
    mp_int_t mult = mp_obj_get_int(args[2]), shift = mp_obj_get_int(args[3]), zp = mp_obj_get_int(args[4]);
    if (mult < 0 || mult > 0x7fffffff || shift < -31 || shift > 30 || zp < -128 || zp > 127) {
        raise_formatted(&mp_type_ValueError, "quantize: multiplier, shift or zero point out of range");
    }
    ne_quantize_window(in, (uint32_t)n_in, (int32_t)mult, (int32_t)shift, (int32_t)zp, bufinfo.buf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(edgedl_quantize_obj, 5, 5, edgedl_quantize);

// column_means(window_h, width, out_h) -> sum: out[c] = the mean over the window's frames of
// column c, for the first len(out) columns (a window's activity per electrode).
static mp_obj_t edgedl_column_means(mp_obj_t window_obj, mp_obj_t width_obj, mp_obj_t out_obj) {
    size_t n_in, n_out;
    const int16_t *window = int16_buffer(window_obj, 0, &n_in, "column_means: window");
    int16_t *out = int16_buffer(out_obj, 1, &n_out, "column_means: out");
    mp_int_t width = mp_obj_get_int(width_obj);
    if (width < 1 || n_in % (size_t)width || n_in == 0 || n_out > (size_t)width) {
        raise_formatted(&mp_type_ValueError, "column_means: a window of %d values is not whole frames of width %d "
            "with at least %d columns", (int)n_in, (int)width, (int)n_out);
    }
    return mp_obj_new_int(ne_column_means(window, (uint32_t)(n_in / (size_t)width), (uint32_t)width, out,
        (uint32_t)n_out));
}
static MP_DEFINE_CONST_FUN_OBJ_3(edgedl_column_means_obj, edgedl_column_means);

// drift_apply(window_h, width, offsets_i): takes each column's drift offset (Q8) off the window, in place.
// drift_track(window_h, width, class_means_h, index, rate_shift, offsets_i): one tracking step after
// a decision for class `index` (class_means: classes x width, the training means). See
// edgedl_preprocess.h for what the offsets follow and why.
static int32_t *drift_offsets(mp_obj_t obj, size_t width, const char *what) {
    mp_buffer_info_t bufinfo = typed_buffer(obj, 1, "i", what, "a writable array('i')", NULL);
    if (bufinfo.len != width * sizeof(int32_t)) {
        raise_formatted(&mp_type_ValueError, "%s has %d items, the window has %d columns", what,
            (int)(bufinfo.len / sizeof(int32_t)), (int)width);
    }
    return bufinfo.buf;
}

static size_t drift_frames(size_t n_in, mp_int_t width, const char *what) {
    if (width < 1 || n_in == 0 || n_in % (size_t)width) {
        raise_formatted(&mp_type_ValueError, "%s: a window of %d values is not whole frames of width %d", what,
            (int)n_in, (int)width);
    }
    return n_in / (size_t)width;
}

static mp_obj_t edgedl_drift_apply(mp_obj_t window_obj, mp_obj_t width_obj, mp_obj_t offsets_obj) {
    size_t n_in;
    int16_t *window = int16_buffer(window_obj, 1, &n_in, "drift_apply: window");
    mp_int_t width = mp_obj_get_int(width_obj);
    size_t frames = drift_frames(n_in, width, "drift_apply");
    ne_drift_apply(window, (uint32_t)frames, (uint32_t)width, drift_offsets(offsets_obj, (size_t)width,
        "drift_apply: offsets"));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(edgedl_drift_apply_obj, edgedl_drift_apply);

static mp_obj_t edgedl_drift_track(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t n_in, n_means;
    const int16_t *window = int16_buffer(args[0], 0, &n_in, "drift_track: window");
    mp_int_t width = mp_obj_get_int(args[1]);
    size_t frames = drift_frames(n_in, width, "drift_track");
    const int16_t *means = int16_buffer(args[2], 0, &n_means, "drift_track: class_means");
    mp_int_t index = mp_obj_get_int(args[3]), rate_shift = mp_obj_get_int(args[4]);
    if (n_means % (size_t)width || index < 0 || (size_t)index >= n_means / (size_t)width) {
        raise_formatted(&mp_type_ValueError, "drift_track: class %d is not one of the %d rows of width %d in class_means",
            (int)index, (int)(n_means / (size_t)width), (int)width);
    }
    if (rate_shift < 0 || rate_shift > NE_DRIFT_MAX_SHIFT) {
        raise_formatted(&mp_type_ValueError, "drift_track: rate_shift must be 0..%d, got %d", NE_DRIFT_MAX_SHIFT,
            (int)rate_shift);
    }
    ne_drift_track(window, (uint32_t)frames, (uint32_t)width, means + (size_t)index * (size_t)width,
        (int32_t)rate_shift, drift_offsets(args[5], (size_t)width, "drift_track: offsets"));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(edgedl_drift_track_obj, 6, 6, edgedl_drift_track);

// ---------------------------------------------------------------------------
// edgedl.Quality: per-channel electrode checks over periods of raw frames

typedef struct {
    mp_obj_base_t base;
    ne_quality_t quality;  // state block is a GC allocation referenced from here
} edgedl_quality_obj_t;

// Quality(channels, fs, mains=50, period_ms=250)
static mp_obj_t quality_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    enum { ARG_channels, ARG_fs, ARG_mains, ARG_period_ms };
    const mp_arg_t allowed_args[] = {
        { MP_QSTR_channels, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_fs, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_mains, MP_ARG_INT, {.u_int = 50} },
        { MP_QSTR_period_ms, MP_ARG_INT, {.u_int = 250} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    mp_int_t channels = args[ARG_channels].u_int, fs = args[ARG_fs].u_int;
    mp_int_t mains = args[ARG_mains].u_int, period_ms = args[ARG_period_ms].u_int;
    if (channels < 1 || channels > NE_QUALITY_MAX_CHANNELS) {
        raise_formatted(&mp_type_ValueError, "Quality: channels must be 1..%d, got %d", NE_QUALITY_MAX_CHANNELS,
            (int)channels);
    }
    if (fs < 1 || fs > 100000 || mains < 1 || 2 * mains >= fs) {
        raise_formatted(&mp_type_ValueError, "Quality: fs (Hz) must be 1..100000 and above twice mains (Hz), got "
            "fs %d, mains %d", (int)fs, (int)mains);
    }
    mp_int_t stride = fs >= 2000 ? fs / 1000 : 1;  // measure about 1 kHz: enough for 50/60 Hz and the rest
    mp_int_t period = period_ms > 0 && period_ms <= 60000 ? fs * period_ms / 1000 / stride : 0;
    if (period < 2 || period > (mp_int_t)NE_QUALITY_MAX_PERIOD) {
        raise_formatted(&mp_type_ValueError, "Quality: period_ms must give 2..%d measured frames at %d Hz, got %d ms",
            (int)NE_QUALITY_MAX_PERIOD, (int)fs, (int)period_ms);
    }
    void *state = alloc_or_raise(NE_QUALITY_CHANNEL_BYTES * (size_t)channels, "the quality sums");
    edgedl_quality_obj_t *self = alloc_or_raise(sizeof(edgedl_quality_obj_t), "the Quality object");
    self->base.type = type;
    // mains / (fs / stride) of a turn per measured frame, in 2^32 units (below 2^31 at 1 kHz).
    uint32_t step = (uint32_t)((float)mains / (float)fs * (float)stride * 4294967296.0f);
    ne_quality_init(&self->quality, (uint32_t)channels, (uint32_t)period, step, (uint32_t)stride, state);
    return MP_OBJ_FROM_PTR(self);
}

// update(frames_h) -> periods completed: raw frames (time-major, `channels` each).
static mp_obj_t quality_update(mp_obj_t self_in, mp_obj_t in_obj) {
    edgedl_quality_obj_t *self = MP_OBJ_TO_PTR(self_in);
    size_t n_in;
    const int16_t *in = int16_buffer(in_obj, 0, &n_in, "Quality.update: frames");
    uint32_t ch = self->quality.channels;
    if (n_in % ch) {
        raise_formatted(&mp_type_ValueError, "Quality.update: %d samples are not whole frames of %d channels",
            (int)n_in, (int)ch);
    }
    return mp_obj_new_int_from_uint(ne_quality_update(&self->quality, in, (uint32_t)(n_in / ch)));
}
static MP_DEFINE_CONST_FUN_OBJ_2(quality_update_obj, quality_update);

// read(out_h): the last complete period's results, 3 x channels int16: RMS x 16 (counts),
// mains hum per mille of the power, saturated samples per mille; channel-major per result.
static mp_obj_t quality_read(mp_obj_t self_in, mp_obj_t out_obj) {
    edgedl_quality_obj_t *self = MP_OBJ_TO_PTR(self_in);
    size_t n_out;
    int16_t *out = int16_buffer(out_obj, 1, &n_out, "Quality.read: out");
    uint32_t ch = self->quality.channels;
    if (n_out != 3u * ch) {
        raise_formatted(&mp_type_ValueError, "Quality.read: out has %d items, needs 3 x %d channels", (int)n_out,
            (int)ch);
    }
    const ne_quality_t *q = &self->quality;
    for (uint32_t c = 0; c < ch; c++) {
        out[c] = q->rms_x16[c];
        out[ch + c] = q->hum_permille[c];
        out[2 * ch + c] = q->saturated_permille[c];
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(quality_read_obj, quality_read);

static mp_obj_t quality_reset(mp_obj_t self_in) {
    edgedl_quality_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_quality_init(&self->quality, self->quality.channels, self->quality.period, self->quality.phase_step,
        self->quality.stride, self->quality.sum_sq);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(quality_reset_obj, quality_reset);

// Read-only: periods (completed), period (frames), channels, state_bytes.
static void quality_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] != MP_OBJ_NULL) {
        return;
    }
    edgedl_quality_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (attr == MP_QSTR_periods) {
        dest[0] = mp_obj_new_int_from_uint(self->quality.periods);
    } else if (attr == MP_QSTR_period) {
        dest[0] = mp_obj_new_int_from_uint(self->quality.period);
    } else if (attr == MP_QSTR_channels) {
        dest[0] = mp_obj_new_int_from_uint(self->quality.channels);
    } else if (attr == MP_QSTR_state_bytes) {
        dest[0] = mp_obj_new_int_from_uint(NE_QUALITY_CHANNEL_BYTES * self->quality.channels);
    } else {
        dest[1] = MP_OBJ_SENTINEL;
    }
}

// ---------------------------------------------------------------------------
// edgedl.LinkDecoder and edgedl.link_encode (framed UART/SPI/USB-serial link)

#if MICROPY_ENABLE_DYNRUNTIME
extern mp_obj_full_type_t edgedl_type_Stream;
#define EDGEDL_STREAM_TYPE ((const mp_obj_type_t *)&edgedl_type_Stream)
#else
extern const mp_obj_type_t edgedl_type_Stream;
#define EDGEDL_STREAM_TYPE (&edgedl_type_Stream)
#endif

typedef struct {
    mp_obj_base_t base;
    ne_link_t link;  // reassembly buffer is a GC block referenced from here
} edgedl_link_obj_t;

static mp_obj_t link_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    mp_int_t max_payload = n_args ? mp_obj_get_int(args[0]) : 2048;
    if (max_payload < 1 || max_payload > 65535) {
        raise_formatted(&mp_type_ValueError, "LinkDecoder: max_payload must be 1..65535, got %d", (int)max_payload);
    }
    uint32_t cap = 2 * ((uint32_t)max_payload + NE_LINK_OVERHEAD);
    uint8_t *buf = alloc_or_raise(cap, "the link reassembly buffer");
    edgedl_link_obj_t *self = alloc_or_raise(sizeof(edgedl_link_obj_t), "the LinkDecoder object");
    self->base.type = type;
    ne_link_init(&self->link, buf, cap, (uint32_t)max_payload);
    return MP_OBJ_FROM_PTR(self);
}

static void push_to_stream(void *ctx, const uint8_t *payload, uint32_t len) {
    ne_stream_push(ctx, payload, len);
}

// feed(data, stream) -> packets decoded; their payloads go into the edgedl.Stream.
static mp_obj_t link_feed(mp_obj_t self_in, mp_obj_t data, mp_obj_t stream_obj) {
    edgedl_link_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_buffer_info_t bufinfo = typed_buffer(data, 0, NULL, "LinkDecoder.feed: data", "bytes-like", NULL);
    if (mp_obj_get_type(stream_obj) != EDGEDL_STREAM_TYPE) {
        raise_formatted(&mp_type_TypeError, "LinkDecoder.feed: stream must be an edgedl.Stream");
    }
    edgedl_stream_obj_t *stream = MP_OBJ_TO_PTR(stream_obj);
    return mp_obj_new_int_from_uint(ne_link_feed(&self->link, bufinfo.buf, bufinfo.len, push_to_stream,
        &stream->stream));
}
static MP_DEFINE_CONST_FUN_OBJ_3(link_feed_obj, link_feed);

static mp_obj_t link_stats(mp_obj_t self_in) {
    edgedl_link_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_link_t *l = &self->link;
    mp_obj_t d = mp_obj_new_dict(4);
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_packets), new_int_u64(l->packets));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_crc_errors), new_int_u64(l->crc_errors));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_bytes_skipped), new_int_u64(l->bytes_skipped));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_packets_lost), new_int_u64(l->packets_lost));
    return d;
}
static MP_DEFINE_CONST_FUN_OBJ_1(link_stats_obj, link_stats);

// reset(): a new stream begins (its sequence numbers start again); counters go to zero.
static mp_obj_t link_reset(mp_obj_t self_in) {
    edgedl_link_obj_t *self = MP_OBJ_TO_PTR(self_in);
    ne_link_t *l = &self->link;
    ne_link_init(l, l->buf, l->cap, l->max_payload);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(link_reset_obj, link_reset);

// link_encode(seq, payload, out) -> bytes written to out (len(payload) + 8).
static mp_obj_t edgedl_link_encode(mp_obj_t seq_obj, mp_obj_t payload_obj, mp_obj_t out_obj) {
    mp_buffer_info_t payload = typed_buffer(payload_obj, 0, NULL, "link_encode: payload", "bytes-like", NULL);
    mp_buffer_info_t out = typed_buffer(out_obj, 1, NULL, "link_encode: out", "a writable bytes-like object", NULL);
    if (payload.len > 65535 || out.len < payload.len + NE_LINK_OVERHEAD) {
        raise_formatted(&mp_type_ValueError, "link_encode: out needs %d bytes for a %d-byte payload",
            (int)(payload.len + NE_LINK_OVERHEAD), (int)payload.len);
    }
    uint32_t n = ne_link_encode((uint16_t)mp_obj_get_int(seq_obj), payload.buf, (uint32_t)payload.len, out.buf);
    return mp_obj_new_int_from_uint(n);
}
static MP_DEFINE_CONST_FUN_OBJ_3(edgedl_link_encode_obj, edgedl_link_encode);

// ---------------------------------------------------------------------------
// Registration. Each type's methods and the module's names are listed once, here; the
// natmod expands the lists into tables it fills at import (its types live in RAM), the
// firmware build into ROM tables. MP_QSTR_ names are spelled out: the natmod build finds
// its qstrs by reading the source text.

#define STREAM_METHODS(X) X(MP_QSTR_push, stream_push_obj) X(MP_QSTR_read, stream_read_obj) \
    X(MP_QSTR_ready, stream_ready_obj) X(MP_QSTR_stats, stream_stats_obj) X(MP_QSTR_reset, stream_reset_obj) \
    X(MP_QSTR_resync, stream_resync_obj)
#define MODEL_METHODS(X) X(MP_QSTR_invoke, model_invoke_obj) X(MP_QSTR_embedding, model_embedding_obj)
#define PRE_METHODS(X) X(MP_QSTR_process, pre_process_obj) X(MP_QSTR_reset, pre_reset_obj)
#define QUALITY_METHODS(X) X(MP_QSTR_update, quality_update_obj) X(MP_QSTR_read, quality_read_obj) \
    X(MP_QSTR_reset, quality_reset_obj)
#define LINK_METHODS(X) X(MP_QSTR_feed, link_feed_obj) X(MP_QSTR_stats, link_stats_obj) X(MP_QSTR_reset, link_reset_obj)
// The types: (name, its prefix here, its methods, make_new, attr handler, whether it has one).
#define TYPES(X) X(Stream, stream, STREAM_METHODS, stream_make_new, stream_attr, 1) \
    X(Model, model, MODEL_METHODS, model_make_new, model_attr, 1) \
    X(Preprocess, pre, PRE_METHODS, pre_make_new, pre_attr, 1) \
    X(Quality, quality, QUALITY_METHODS, quality_make_new, quality_attr, 1) \
    X(LinkDecoder, link, LINK_METHODS, link_make_new, 0, 0)
#define FUNCTIONS(X) X(MP_QSTR_link_encode, edgedl_link_encode_obj) X(MP_QSTR_quantize, edgedl_quantize_obj) \
    X(MP_QSTR_column_means, edgedl_column_means_obj) X(MP_QSTR_drift_apply, edgedl_drift_apply_obj) \
    X(MP_QSTR_drift_track, edgedl_drift_track_obj)
#define CONSTANTS(X) X(MP_QSTR_MAX_CHANNELS, NE_STREAM_MAX_CHANNELS) X(MP_QSTR_LINK_OVERHEAD, NE_LINK_OVERHEAD)
#define COUNT_ONE(qstr, obj) +1

#if MICROPY_ENABLE_DYNRUNTIME

// A natmod builds its types in RAM at import time (its bss cannot be static: mpy_ld).
#define DECLARE_TYPE(Name, prefix, METHODS, make_new_fn, attr_fn, has_attr) \
    mp_obj_full_type_t edgedl_type_##Name; \
    mp_map_elem_t prefix##_locals_dict_table[0 METHODS(COUNT_ONE)]; \
    static MP_DEFINE_CONST_DICT(prefix##_locals_dict, prefix##_locals_dict_table);
TYPES(DECLARE_TYPE)

#define FILL_METHOD(qstr, obj) table[i++] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(qstr), MP_OBJ_FROM_PTR(&obj) };
#define MAKE_TYPE(Name, prefix, METHODS, make_new_fn, attr_fn, has_attr) \
    { \
        mp_obj_full_type_t *type = &edgedl_type_##Name; \
        mp_map_elem_t *table = prefix##_locals_dict_table; \
        size_t i = 0; /* slots: make_new, [attr,] locals_dict (the macro reads its index twice) */ \
        type->base.type = (void *)&mp_type_type; \
        type->flags = MP_TYPE_FLAG_NONE; \
        type->name = MP_QSTR_##Name; \
        MP_OBJ_TYPE_SET_SLOT(type, make_new, make_new_fn, 0); \
        if (has_attr) { \
            MP_OBJ_TYPE_SET_SLOT(type, attr, attr_fn, 1); \
        } \
        METHODS(FILL_METHOD) \
        MP_OBJ_TYPE_SET_SLOT(type, locals_dict, (void *)&prefix##_locals_dict, has_attr ? 2 : 1); \
        mp_store_global(MP_QSTR_##Name, MP_OBJ_FROM_PTR(type)); \
    }
#define STORE_FUNCTION(qstr, obj) mp_store_global(qstr, MP_OBJ_FROM_PTR(&obj));
#define STORE_CONSTANT(qstr, value) mp_store_global(qstr, MP_OBJ_NEW_SMALL_INT(value));

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    // Spelled out for the qstr scan: MP_QSTR_Stream MP_QSTR_Model MP_QSTR_Preprocess MP_QSTR_Quality
    // MP_QSTR_LinkDecoder
    TYPES(MAKE_TYPE)
    FUNCTIONS(STORE_FUNCTION)
    CONSTANTS(STORE_CONSTANT)
    mp_store_global(MP_QSTR___version__, mp_obj_new_str(EDGEDL_VERSION, sizeof(EDGEDL_VERSION) - 1));
    MP_DYNRUNTIME_INIT_EXIT
}

#else

#define ROM_METHOD(qstr, obj) { MP_ROM_QSTR(qstr), MP_ROM_PTR(&obj) },
#define ROM_TYPE_WITH_ATTR(Name, prefix, make_new_fn, attr_fn) \
    MP_DEFINE_CONST_OBJ_TYPE(edgedl_type_##Name, MP_QSTR_##Name, MP_TYPE_FLAG_NONE, make_new, make_new_fn, \
        attr, attr_fn, locals_dict, &prefix##_locals_dict);
#define ROM_TYPE_WITHOUT_ATTR(Name, prefix, make_new_fn, attr_fn) \
    MP_DEFINE_CONST_OBJ_TYPE(edgedl_type_##Name, MP_QSTR_##Name, MP_TYPE_FLAG_NONE, make_new, make_new_fn, \
        locals_dict, &prefix##_locals_dict);
#define ROM_TABLE(Name, prefix, METHODS, make_new_fn, attr_fn, has_attr) \
    static const mp_rom_map_elem_t prefix##_locals_dict_table[] = { METHODS(ROM_METHOD) }; \
    static MP_DEFINE_CONST_DICT(prefix##_locals_dict, prefix##_locals_dict_table);
TYPES(ROM_TABLE)
// MP_DEFINE_CONST_OBJ_TYPE takes only the slots a type has: the LinkDecoder has no attr handler.
ROM_TYPE_WITH_ATTR(Stream, stream, stream_make_new, stream_attr)
ROM_TYPE_WITH_ATTR(Model, model, model_make_new, model_attr)
ROM_TYPE_WITH_ATTR(Preprocess, pre, pre_make_new, pre_attr)
ROM_TYPE_WITH_ATTR(Quality, quality, quality_make_new, quality_attr)
ROM_TYPE_WITHOUT_ATTR(LinkDecoder, link, link_make_new, 0)

static MP_DEFINE_STR_OBJ(edgedl_version_obj, EDGEDL_VERSION);

#define ROM_GLOBAL_TYPE(Name, prefix, METHODS, make_new_fn, attr_fn, has_attr) { MP_ROM_QSTR(MP_QSTR_##Name), MP_ROM_PTR(&edgedl_type_##Name) },
#define ROM_GLOBAL_CONSTANT(qstr, value) { MP_ROM_QSTR(qstr), MP_ROM_INT(value) },
static const mp_rom_map_elem_t edgedl_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_edgedl) },
    TYPES(ROM_GLOBAL_TYPE)
    FUNCTIONS(ROM_METHOD)
    CONSTANTS(ROM_GLOBAL_CONSTANT)
    { MP_ROM_QSTR(MP_QSTR___version__), MP_ROM_PTR(&edgedl_version_obj) },
};
static MP_DEFINE_CONST_DICT(edgedl_module_globals, edgedl_module_globals_table);

const mp_obj_module_t edgedl_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&edgedl_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_edgedl, edgedl_user_cmodule);

#endif
