# EdgeDL as a firmware user C module (make-based ports: unix, rp2 via cmake, stm32, ...):
#   make USER_C_MODULES=/path/to/neuroedge/device/native
# Compiles the same C files as the natmod, without MICROPY_ENABLE_DYNRUNTIME.
EDGEDL_MOD_DIR := $(USERMOD_DIR)

SRC_USERMOD_C += $(EDGEDL_MOD_DIR)/edgedl_stream.c
SRC_USERMOD_C += $(EDGEDL_MOD_DIR)/mod_edgedl.c

CFLAGS_USERMOD += -I$(EDGEDL_MOD_DIR)
