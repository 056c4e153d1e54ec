# Warnings are errors everywhere; the picky list follows curl's PickyWarnings.
set(OD_WARNINGS -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wvla -Wundef -Wformat=2)
add_compile_options(${OD_WARNINGS})
