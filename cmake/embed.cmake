# SPDX-License-Identifier: MIT
# embed.cmake -- turn a file into a C array: cmake -DIN=f -DOUT=f.c -DNAME=sym -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n#include <stddef.h>\nconst unsigned char ${NAME}[] = {${bytes} 0};\nconst size_t ${NAME}_len = ${len};\n")
