// The op table: the lookup of an op's row by builtin code, and the name of every TFLite builtin.
//
// A row (ne_op_kind_t) gives the op's name, builtin code, the BuiltinOptions it reads, its input
// and output counts, flags, its parameter block's size, and its prepare (checks and precomputation
// at load, as TFLite Micro's Prepare) and eval (the kernel) functions. Rows sit at the end of the
// edgedl_ops_*.c file that holds the op's prepare and eval: adding an op is its two functions, its
// row, and (if it has one) its parameter block in edgedl_internal.h.
#include "edgedl_internal.h"

// Each edgedl_ops_*.c file holds the rows of its ops, ended by a row without a name. (The rows
// cannot be gathered into one array here: MicroPython's native-module linker does not relocate
// data that points into another object file.)
extern const ne_op_kind_t ne_ops_conv[], ne_ops_pool[], ne_ops_misc[], ne_ops_layout[], ne_ops_activation[],
    ne_ops_matmul[];

static const ne_op_kind_t *find_row(const ne_op_kind_t *rows, int32_t code) {
    for (; rows->name; rows++) {
        if (rows->code == code) {
            return rows;
        }
    }
    return 0;
}

const ne_op_kind_t *ne_op_kind(int32_t code) {
    const ne_op_kind_t *kind = find_row(ne_ops_conv, code);
    kind = kind ? kind : find_row(ne_ops_pool, code);
    kind = kind ? kind : find_row(ne_ops_misc, code);
    kind = kind ? kind : find_row(ne_ops_layout, code);
    kind = kind ? kind : find_row(ne_ops_activation, code);
    kind = kind ? kind : find_row(ne_ops_matmul, code);
    return kind;
}

// Every builtin of TFLite's schema (BuiltinOperator), in code order, each ended by a NUL. The
// first character may mark why edgedl refuses it: '~' a StableHLO op (its name continues after
// "STABLEHLO_"), '!' control flow or a custom op, '%' state or recurrence. The list is checked
// against the schema that the tflite-micro package ships (tests/test_engine_model.py).
static const char BUILTIN_NAMES[] =
    "ADD\0AVERAGE_POOL_2D\0CONCATENATION\0CONV_2D\0DEPTHWISE_CONV_2D\0DEPTH_TO_SPACE\0DEQUANTIZE\0"
    "EMBEDDING_LOOKUP\0FLOOR\0FULLY_CONNECTED\0%HASHTABLE_LOOKUP\0L2_NORMALIZATION\0L2_POOL_2D\0"
    "LOCAL_RESPONSE_NORMALIZATION\0LOGISTIC\0%LSH_PROJECTION\0%LSTM\0MAX_POOL_2D\0MUL\0RELU\0RELU_N1_TO_1\0"
    "RELU6\0RESHAPE\0RESIZE_BILINEAR\0%RNN\0SOFTMAX\0SPACE_TO_DEPTH\0%SVDF\0TANH\0CONCAT_EMBEDDINGS\0"
    "SKIP_GRAM\0!CALL\0!CUSTOM\0EMBEDDING_LOOKUP_SPARSE\0PAD\0%UNIDIRECTIONAL_SEQUENCE_RNN\0GATHER\0"
    "BATCH_TO_SPACE_ND\0SPACE_TO_BATCH_ND\0TRANSPOSE\0MEAN\0SUB\0DIV\0SQUEEZE\0%UNIDIRECTIONAL_SEQUENCE_LSTM\0"
    "STRIDED_SLICE\0%BIDIRECTIONAL_SEQUENCE_RNN\0EXP\0TOPK_V2\0SPLIT\0LOG_SOFTMAX\0!DELEGATE\0"
    "%BIDIRECTIONAL_SEQUENCE_LSTM\0CAST\0PRELU\0MAXIMUM\0ARG_MAX\0MINIMUM\0LESS\0NEG\0PADV2\0GREATER\0"
    "GREATER_EQUAL\0LESS_EQUAL\0SELECT\0SLICE\0SIN\0TRANSPOSE_CONV\0SPARSE_TO_DENSE\0TILE\0EXPAND_DIMS\0"
    "EQUAL\0NOT_EQUAL\0LOG\0SUM\0SQRT\0RSQRT\0SHAPE\0POW\0ARG_MIN\0FAKE_QUANT\0REDUCE_PROD\0REDUCE_MAX\0PACK\0"
    "LOGICAL_OR\0ONE_HOT\0LOGICAL_AND\0LOGICAL_NOT\0UNPACK\0REDUCE_MIN\0FLOOR_DIV\0REDUCE_ANY\0SQUARE\0"
    "ZEROS_LIKE\0FILL\0FLOOR_MOD\0RANGE\0RESIZE_NEAREST_NEIGHBOR\0LEAKY_RELU\0SQUARED_DIFFERENCE\0MIRROR_PAD\0"
    "ABS\0SPLIT_V\0UNIQUE\0CEIL\0REVERSE_V2\0ADD_N\0GATHER_ND\0COS\0WHERE\0RANK\0ELU\0REVERSE_SEQUENCE\0"
    "MATRIX_DIAG\0QUANTIZE\0MATRIX_SET_DIAG\0ROUND\0HARD_SWISH\0!IF\0!WHILE\0NON_MAX_SUPPRESSION_V4\0"
    "NON_MAX_SUPPRESSION_V5\0SCATTER_ND\0SELECT_V2\0DENSIFY\0SEGMENT_SUM\0BATCH_MATMUL\0"
    "!PLACEHOLDER_FOR_GREATER_OP_CODES\0CUMSUM\0!CALL_ONCE\0BROADCAST_TO\0RFFT2D\0CONV_3D\0IMAG\0REAL\0"
    "COMPLEX_ABS\0%HASHTABLE\0%HASHTABLE_FIND\0%HASHTABLE_IMPORT\0%HASHTABLE_SIZE\0REDUCE_ALL\0"
    "CONV_3D_TRANSPOSE\0%VAR_HANDLE\0%READ_VARIABLE\0%ASSIGN_VARIABLE\0BROADCAST_ARGS\0"
    "RANDOM_STANDARD_NORMAL\0BUCKETIZE\0RANDOM_UNIFORM\0MULTINOMIAL\0GELU\0DYNAMIC_UPDATE_SLICE\0RELU_0_TO_1\0"
    "UNSORTED_SEGMENT_PROD\0UNSORTED_SEGMENT_MAX\0UNSORTED_SEGMENT_SUM\0ATAN2\0UNSORTED_SEGMENT_MIN\0SIGN\0"
    "BITCAST\0BITWISE_XOR\0RIGHT_SHIFT\0~LOGISTIC\0~ADD\0~DIVIDE\0~MULTIPLY\0~MAXIMUM\0~RESHAPE\0~CLAMP\0"
    "~CONCATENATE\0~BROADCAST_IN_DIM\0~CONVOLUTION\0~SLICE\0~CUSTOM_CALL\0~REDUCE\0~ABS\0~AND\0~COSINE\0"
    "~EXPONENTIAL\0~FLOOR\0~LOG\0~MINIMUM\0~NEGATE\0~OR\0~POWER\0~REMAINDER\0~RSQRT\0~SELECT\0~SUBTRACT\0"
    "~TANH\0~SCATTER\0~COMPARE\0~CONVERT\0~DYNAMIC_SLICE\0~DYNAMIC_UPDATE_SLICE\0~PAD\0~IOTA\0~DOT_GENERAL\0"
    "~REDUCE_WINDOW\0~SORT\0~WHILE\0~GATHER\0~TRANSPOSE\0DILATE\0~RNG_BIT_GENERATOR\0REDUCE_WINDOW\0"
    "~COMPOSITE\0~SHIFT_LEFT\0~CBRT\0~CASE\0";

static const char *builtin_entry(int32_t code) {
    if (code < 0) {
        return 0;
    }
    const char *p = BUILTIN_NAMES, *end = BUILTIN_NAMES + sizeof(BUILTIN_NAMES) - 1;
    for (int32_t i = 0; i < code && p < end; i++) {
        while (*p) {
            p++;
        }
        p++;
    }
    return p < end ? p : 0;
}

const char *ne_builtin_name(int32_t code, char *buf, uint32_t len) {
    const char *entry = builtin_entry(code);
    if (!entry || len < 2) {
        return 0;
    }
    uint32_t n = 0;
    if (*entry == '~') {
        for (const char *s = "STABLEHLO_"; *s && n + 1 < len; s++) {
            buf[n++] = *s;
        }
    }
    if (*entry == '~' || *entry == '!' || *entry == '%') {
        entry++;
    }
    while (*entry && n + 1 < len) {
        buf[n++] = *entry++;
    }
    buf[n] = 0;
    return buf;
}

const char *ne_refusal_reason(int32_t code) {
    const char *entry = builtin_entry(code);
    if (!entry) {
        return "an operator code beyond TFLite's schema";
    }
    switch (*entry) {
        case '~': return "a StableHLO op, outside TFLite's int8 kernel set";
        case '!': return "control flow or a custom op; edgedl runs one feed-forward subgraph of builtin ops";
        case '%': return "a stateful or recurrent op; edgedl runs stateless feed-forward graphs";
        default: return "not among the ops edgedl runs (README: \"Operators\")";
    }
}
