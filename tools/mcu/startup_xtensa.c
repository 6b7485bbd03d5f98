// C side of the Xtensa start: .bss cleared, then bench_main; output and exit through QEMU's
// semihosting "simcall" (a2: call number, a3..a5: arguments). The lx106 assembler has no simcall
// mnemonic: its encoding is written out.
#include <stdint.h>

int bench_main(void);
extern uint32_t _sbss, _ebss;

static int simcall(int call, int a, int b, int c) {
    register int a2 __asm__("a2") = call;
    register int a3 __asm__("a3") = a;
    register int a4 __asm__("a4") = b;
    register int a5 __asm__("a5") = c;
    __asm__ volatile(".byte 0x00, 0x51, 0x00" : "+r"(a2) : "r"(a3), "r"(a4), "r"(a5) : "memory");
    return a2;
}

void out_text(const char *s) {
    int n = 0;
    while (s[n]) {
        n++;
    }
    simcall(4, 2, (int)s, n);  // SYS_write to stderr, like the Cortex-M's semihosting output
}

void finish(int code) {
    if (code) {
        out_text("bench failed\n");
    }
    simcall(1, code, 0, 0);  // SYS_exit
    for (;;) {
    }
}

void c_start(void) {
    for (uint32_t *p = &_sbss; p < &_ebss;) {
        *p++ = 0;
    }
    finish(bench_main());
}
