// The host build of the harness: the same pipeline, output on stdout (the reference outputs).
#include <stdio.h>
#include <stdlib.h>

int bench_main(void);

void out_text(const char *s) {
    fputs(s, stdout);
}

void finish(int code) {
    exit(code);
}

int main(void) {
    finish(bench_main());
    return 0;
}
