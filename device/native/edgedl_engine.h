// EdgeDL engine: runs full-int8 TFLite flatbuffers (.tflite), bit-exact with
// TFLite Micro's reference kernels.
//
// Portable MCU C like the Stream: no libc, no allocation, no writable statics.
// Loading works over caller-owned memory:
//
//   ne_model_meta_bytes(model, len, &n, &w, &err)   sizes of the parsed model and of the loader's work area
//   ne_model_load(model, len, meta, n, work, w, &m, &err)   validate everything, prepare, plan
//   ne_model_set_arena(m, arena)                     ne_model_arena_bytes(m), 16-aligned
//   ne_model_invoke(m, input, output)                no checks, no allocation
//
// An ne_error_t must start zeroed; it receives the first problem found.
//
// The model bytes are used in place (constant int8 weights are read from them)
// and must stay unchanged while the model is in use. Anything wider than a
// byte is read from them with byte loads at load time, so the model may sit
// at any address.
#ifndef EDGEDL_ENGINE_H
#define EDGEDL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#define NE_MAX_RANK 4
#define NE_MAX_TENSORS 1024
#define NE_MAX_OPS 512
#define NE_MAX_OP_INPUTS 10
#define NE_MAX_OP_OUTPUTS 10

typedef struct {
    char text[160];
} ne_error_t;

// Tensor element types (TFLite TensorType numbering).
enum {
    NE_FLOAT32 = 0,
    NE_INT32 = 2,
    NE_INT8 = 9,
};

// Public view of a graph input or output.
typedef struct {
    uint8_t type;          // NE_INT8 or NE_FLOAT32
    uint8_t rank;
    int32_t dims[NE_MAX_RANK];
    uint32_t bytes;
    uint32_t scale_bits;   // float32 bit pattern of the quantization scale (0 if none)
    int32_t zero_point;
} ne_io_info_t;

typedef struct ne_model ne_model_t;

// Bytes of `meta` (the parsed model, kept while the model is in use) and of `work` (needed only
// during ne_model_load: every tensor's shape and quantization) for this model (validates the header).
int ne_model_meta_bytes(const uint8_t *model, uint32_t len, uint32_t *meta_bytes, uint32_t *work_bytes,
    ne_error_t *err);
// Validates everything and prepares the model inside `meta`; `work` may be reused or freed after.
// Both are 8-byte aligned. (The arena, not yet in use, can serve as the work area if it is as large.)
int ne_model_load(const uint8_t *model, uint32_t len, void *meta, uint32_t meta_bytes, void *work,
    uint32_t work_bytes, ne_model_t **out, ne_error_t *err);
uint32_t ne_model_arena_bytes(const ne_model_t *m);
// The arena: ne_model_arena_bytes bytes, 16-byte aligned, owned by the caller.
void ne_model_set_arena(ne_model_t *m, void *arena);
void ne_model_info(const ne_model_t *m, ne_io_info_t *input, ne_io_info_t *output);
// The classifier head's input (the layer before FULLY_CONNECTED -> SOFTMAX): 0 if the
// model has no such head. After an invoke, ne_model_embedding copies it (info.bytes) out.
int ne_model_embedding_info(const ne_model_t *m, ne_io_info_t *info);
void ne_model_embedding(ne_model_t *m, void *out);
uint32_t ne_model_op_count(const ne_model_t *m);
uint32_t ne_model_macs(const ne_model_t *m);
// Copies input (input.bytes) into the arena, runs every op, copies the output out.
void ne_model_invoke(ne_model_t *m, const void *input, void *output);

#endif // EDGEDL_ENGINE_H
