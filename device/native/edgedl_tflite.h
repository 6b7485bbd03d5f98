// Bounds-checked reading of TFLite flatbuffers (no flatbuffers library).
//
// Every accessor validates what it touches (offsets, vtable, field width,
// vector length and alignment relative to the buffer start) and reads with
// byte loads, so a malformed or misaligned model can never cause an
// out-of-bounds or unaligned access. Failures record a message in `err`.
#ifndef EDGEDL_TFLITE_H
#define EDGEDL_TFLITE_H

#include <stdint.h>
#include "edgedl_engine.h"

typedef struct {
    const uint8_t *data;
    uint32_t len;
    ne_error_t *err;
    int failed;
} fb_t;

typedef struct {
    uint32_t pos;        // table start
    uint32_t vtable;     // vtable start
    uint32_t vt_size;    // bytes of vtable
    uint32_t obj_size;   // bytes of table
} fb_table_t;

typedef struct {
    uint32_t pos;        // first element
    uint32_t len;        // element count
} fb_vec_t;

uint32_t fb_load_u32(const uint8_t *p);
uint16_t fb_load_u16(const uint8_t *p);

int fb_root(fb_t *fb, fb_table_t *model, const char *what);
int fb_table_at(fb_t *fb, uint32_t pos, fb_table_t *t, const char *what);
// Field accessors: absent fields give the default; failures return 0 and set fb->failed.
int fb_u8(fb_t *fb, const fb_table_t *t, int field, uint8_t def, uint8_t *out, const char *what);
int fb_i32(fb_t *fb, const fb_table_t *t, int field, int32_t def, int32_t *out, const char *what);
int fb_u32(fb_t *fb, const fb_table_t *t, int field, uint32_t def, uint32_t *out, const char *what);
// Returns 1 if present (out filled), 0 if absent or invalid (check fb->failed).
int fb_table(fb_t *fb, const fb_table_t *t, int field, fb_table_t *out, const char *what);
int fb_vector(fb_t *fb, const fb_table_t *t, int field, uint32_t elem_size, fb_vec_t *out, const char *what);
int fb_vector_table(fb_t *fb, const fb_vec_t *v, uint32_t index, fb_table_t *out, const char *what);
int fb_string_equals(fb_t *fb, const fb_table_t *t, int field, const char *expected);

#endif // EDGEDL_TFLITE_H
