# EdgeDL as a firmware user C module (make-based ports: unix, rp2 via cmake, stm32, ...):
#   make USER_C_MODULES=/path/to/neuroedge/device/native
# Compiles the same C files as the natmod, without MICROPY_ENABLE_DYNRUNTIME.
EDGEDL_MOD_DIR := $(USERMOD_DIR)

SRC_USERMOD_C += $(wildcard $(EDGEDL_MOD_DIR)/*.c)

CFLAGS_USERMOD += -I$(EDGEDL_MOD_DIR)
