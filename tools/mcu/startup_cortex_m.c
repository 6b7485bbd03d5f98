// Bare-metal start for QEMU's mps2-an386 (Cortex-M4F): vector table, .data copied from flash,
// .bss cleared, the FPU on, then bench_main; output and exit through semihosting.
#include <stdint.h>

int bench_main(void);
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void out_text(const char *s) {
    semihost(0x04, s);  // SYS_WRITE0
}

void finish(int code) {
    // SYS_EXIT with ADP_Stopped_ApplicationExit (0x20026); a failure first says so.
    if (code) {
        out_text("bench failed\n");
    }
    semihost(0x18, (const void *)0x20026);
    for (;;) {
    }
}

void reset_handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;  // CPACR: CP10 and CP11 full access (the FPU)
    __asm__ volatile("dsb\n isb");
    finish(bench_main());
}

__attribute__((section(".vectors"), used)) static const void *vectors[2] = {&_estack, (void *)reset_handler};
