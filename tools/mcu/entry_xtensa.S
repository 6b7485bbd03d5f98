// Bare-metal start for QEMU's Xtensa "sim" machine (lx106 core, call0 ABI): the machine starts
// at 0x50000000 whatever the ELF says, so the first bytes jump to the start code.
    .section .entry, "ax"
    .global _entry
_entry:
    j _start

    .text
    .literal_position
    .align 4
    .global _start
_start:
    movi a1, _estack
    call0 c_start
1:  j 1b
