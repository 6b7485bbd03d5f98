// Multiply-accumulates of a loaded model by kernel (every tap counted, padding included), for
// the harnesses' reports: instructions per MAC = a kernel's instructions / these.
#ifndef KERNEL_MACS_H
#define KERNEL_MACS_H
#include "edgedl_internal.h"

typedef struct {
    uint32_t conv, depthwise, fc;
} kernel_macs_t;

static inline kernel_macs_t kernel_macs(const ne_model_t *model) {
    kernel_macs_t k = {0, 0, 0};
    for (uint32_t i = 0; i < model->n_ops; i++) {
        const ne_op_t *op = &model->ops[i];
        k.conv += op->kind->code == OP_CONV_2D ? op->macs : 0;
        k.depthwise += op->kind->code == OP_DEPTHWISE_CONV_2D ? op->macs : 0;
        k.fc += op->kind->code == OP_FULLY_CONNECTED ? op->macs : 0;
    }
    return k;
}
#endif
