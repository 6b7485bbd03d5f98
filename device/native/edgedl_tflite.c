// Bounds-checked flatbuffer reading and error messages: see edgedl_tflite.h.
#include <stdarg.h>
#include "edgedl_internal.h"

// ---------------------------------------------------------------------------
// Error messages (the first error wins: it is the cause)

static void put_char(ne_error_t *err, uint32_t *n, char c) {
    if (*n + 1 < sizeof(err->text)) {
        err->text[(*n)++] = c;
    }
}

void ne_errorf(ne_error_t *err, const char *fmt, ...) {
    if (err == 0 || err->text[0]) {
        return;
    }
    uint32_t n = 0;
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%' || (p[1] != 'd' && p[1] != 'u' && p[1] != 's')) {
            put_char(err, &n, *p);
            continue;
        }
        p++;
        if (*p == 's') {
            const char *s = va_arg(ap, const char *);
            while (s && *s) {
                put_char(err, &n, *s++);
            }
            continue;
        }
        uint32_t v;
        if (*p == 'd') {
            int32_t d = va_arg(ap, int32_t);
            if (d < 0) {
                put_char(err, &n, '-');
                v = (uint32_t)0 - (uint32_t)d;
            } else {
                v = (uint32_t)d;
            }
        } else {
            v = va_arg(ap, uint32_t);
        }
        char digits[10];
        int k = 0;
        do {
            digits[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (k) {
            put_char(err, &n, digits[--k]);
        }
    }
    va_end(ap);
    err->text[n] = 0;
}

// ---------------------------------------------------------------------------
// Flatbuffer access

uint32_t fb_load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint16_t fb_load_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static int fail(fb_t *fb, const char *problem, const char *what) {
    if (!fb->failed) {
        ne_errorf(fb->err, "malformed model: %s %s", what, problem);
    }
    fb->failed = 1;
    return 0;
}

// [pos, pos + size) lies inside the buffer (no overflow).
static int in_bounds(const fb_t *fb, uint32_t pos, uint32_t size) {
    return pos <= fb->len && size <= fb->len - pos;
}

int fb_table_at(fb_t *fb, uint32_t pos, fb_table_t *t, const char *what) {
    if ((pos & 3) || !in_bounds(fb, pos, 4)) {
        return fail(fb, "table out of bounds or misaligned", what);
    }
    int32_t soffset = (int32_t)fb_load_u32(fb->data + pos);
    int64_t vt = (int64_t)pos - soffset;
    if (vt < 0 || vt > (int64_t)fb->len || (vt & 1) || !in_bounds(fb, (uint32_t)vt, 4)) {
        return fail(fb, "vtable out of bounds or misaligned", what);
    }
    t->pos = pos;
    t->vtable = (uint32_t)vt;
    t->vt_size = fb_load_u16(fb->data + vt);
    t->obj_size = fb_load_u16(fb->data + vt + 2);
    if (t->vt_size < 4 || (t->vt_size & 1) || !in_bounds(fb, t->vtable, t->vt_size)
        || t->obj_size < 4 || !in_bounds(fb, pos, t->obj_size)) {
        return fail(fb, "vtable or table size invalid", what);
    }
    return 1;
}

int fb_root(fb_t *fb, fb_table_t *model, const char *what) {
    if (fb->len < 8) {
        return fail(fb, "is shorter than a flatbuffer header (8 bytes)", what);
    }
    if (fb->data[4] != 'T' || fb->data[5] != 'F' || fb->data[6] != 'L' || fb->data[7] != '3') {
        return fail(fb, "has no TFL3 identifier: not a .tflite file", what);
    }
    return fb_table_at(fb, fb_load_u32(fb->data), model, what);
}

// Absolute position of a field with `width` bytes, 0 if absent.
static uint32_t field_pos(fb_t *fb, const fb_table_t *t, int field, uint32_t width, const char *what) {
    uint32_t entry = 4 + 2 * (uint32_t)field;
    if (entry + 2 > t->vt_size) {
        return 0;
    }
    uint32_t off = fb_load_u16(fb->data + t->vtable + entry);
    if (off == 0) {
        return 0;
    }
    if (off + width > t->obj_size) {
        fail(fb, "field outside its table", what);
        return 0;
    }
    return t->pos + off;
}

int fb_u8(fb_t *fb, const fb_table_t *t, int field, uint8_t def, uint8_t *out, const char *what) {
    uint32_t p = field_pos(fb, t, field, 1, what);
    *out = p ? fb->data[p] : def;
    return !fb->failed;
}

int fb_u32(fb_t *fb, const fb_table_t *t, int field, uint32_t def, uint32_t *out, const char *what) {
    uint32_t p = field_pos(fb, t, field, 4, what);
    *out = p ? fb_load_u32(fb->data + p) : def;
    return !fb->failed;
}

int fb_i32(fb_t *fb, const fb_table_t *t, int field, int32_t def, int32_t *out, const char *what) {
    uint32_t v;
    int ok = fb_u32(fb, t, field, (uint32_t)def, &v, what);
    *out = (int32_t)v;
    return ok;
}

// Follows the uoffset stored at `pos`.
static int follow(fb_t *fb, uint32_t pos, uint32_t *target, const char *what) {
    if ((pos & 3) || !in_bounds(fb, pos, 4)) {
        return fail(fb, "offset misaligned", what);
    }
    uint32_t off = fb_load_u32(fb->data + pos);
    if (off == 0 || off > fb->len - pos) {
        return fail(fb, "offset out of bounds", what);
    }
    *target = pos + off;
    return 1;
}

int fb_table(fb_t *fb, const fb_table_t *t, int field, fb_table_t *out, const char *what) {
    uint32_t p = field_pos(fb, t, field, 4, what), target;
    if (!p || !follow(fb, p, &target, what)) {
        return 0;
    }
    return fb_table_at(fb, target, out, what);
}

int fb_vector(fb_t *fb, const fb_table_t *t, int field, uint32_t elem_size, fb_vec_t *out, const char *what) {
    out->pos = 0;
    out->len = 0;
    uint32_t p = field_pos(fb, t, field, 4, what), target;
    if (!p || !follow(fb, p, &target, what)) {
        return 0;
    }
    if ((target & 3) || !in_bounds(fb, target, 4)) {
        return fail(fb, "vector misaligned or out of bounds", what);
    }
    uint32_t len = fb_load_u32(fb->data + target);
    uint32_t start = target + 4;
    if ((elem_size == 8 && (start & 7)) || len > (fb->len - start) / elem_size) {
        return fail(fb, "vector length out of bounds or elements misaligned", what);
    }
    out->pos = start;
    out->len = len;
    return 1;
}

int fb_vector_table(fb_t *fb, const fb_vec_t *v, uint32_t index, fb_table_t *out, const char *what) {
    uint32_t target;
    if (index >= v->len || !follow(fb, v->pos + 4 * index, &target, what)) {
        return index >= v->len ? fail(fb, "index past the vector", what) : 0;
    }
    return fb_table_at(fb, target, out, what);
}

int fb_string_equals(fb_t *fb, const fb_table_t *t, int field, const char *expected) {
    fb_vec_t s;
    if (!fb_vector(fb, t, field, 1, &s, "string")) {
        return 0;
    }
    uint32_t i = 0;
    for (; expected[i]; i++) {
        if (i >= s.len || fb->data[s.pos + i] != (uint8_t)expected[i]) {
            return 0;
        }
    }
    return i == s.len;
}
