/*
 * main.c - otadelta example firmware for the MPS2 AN385 board (Cortex-M3).
 *
 * Boots, prints a banner, runs a scripted session through the UART shell,
 * runs the power-on self-test and leaves QEMU through semihosting with
 * exit status 0 when everything passed. Built with -DFW_INTERACTIVE=1 it
 * stays in the shell afterwards until the "exit" command.
 */
#include <stdint.h>

#include "board.h"
#include "config.h"
#include "evlog.h"
#include "fmt.h"
#include "fwconfig.h"
#include "selftest.h"
#include "sensor.h"
#include "shell.h"
#include "uart.h"

#ifndef FW_INTERACTIVE
#define FW_INTERACTIVE 0
#endif

#define SENSOR_SEED 0x13579bdfu

/* What a technician would type at the factory test station. */
static const char *const boot_script[] = {
    "version",
    "info",
    "help",
    "led 3",
    "crc 123456789",
    "sha abc",
    "temp 6",
    "tilt 12",
#if FW_HAS_STATS_CMD
    "stats 64",
#endif
    "cfg set temp_offset -5",
    "cfg save",
    "cfg",
    "peek 0x100 48",
    "echo \"all systems\" go",
    "uart",
    "log",
};

static void run_script(void)
{
    size_t i;

    /* The shell prints a fresh prompt after every executed line. */
    shell_prompt();
    for (i = 0; i < sizeof boot_script / sizeof boot_script[0]; i++) {
        const char *p = boot_script[i];

        while (*p)
            shell_input(*p++);
        shell_input('\r');
    }
}

static void banner(void)
{
    fw_printf("\n%s v%s (FW_VERSION=%d) on mps2-an385\n", FW_NAME, FW_VERSION_STRING, FW_VERSION);
}

int main(void)
{
    static const char *const cfg_state[] = {"ok", "defaults", "migrated"};
    cfg_status st;
    unsigned failed;
    int status;

    board_init();
    uart_init(115200);
    banner();
    evlog_add(EV_BOOT, FW_VERSION);

    st = cfg_load();
    fw_printf("config: %s (layout %u)\n", cfg_state[st], (unsigned)g_config.layout);
    evlog_add(EV_CONFIG, (uint32_t)st);
    sensor_init(SENSOR_SEED);
    sensor_set_alpha(g_config.iir_alpha_q15);
    sensor_set_offset(g_config.temp_offset_dc);
    board_led_set(g_config.led_mask);

    shell_init();
    run_script();
    uart_putc('\n');

    failed = selftest_run();
    evlog_add(EV_SELFTEST, failed);
    if (shell_commands_failed()) {
        fw_printf("%u scripted command(s) failed\n", shell_commands_failed());
        failed += shell_commands_failed();
    }
    fw_printf("SELFTEST %s: %u checks, %u failed\n", failed ? "FAILED" : "PASSED",
              selftest_checks(), failed);

    status = failed ? 1 : 0;

#if FW_INTERACTIVE
    shell_prompt();
    while (shell_exit_request() < 0) {
        int c = uart_getc();

        if (c < 0)
            cpu_wfi();
        else
            shell_input((char)c);
    }
    if (status == 0)
        status = shell_exit_request();
#endif

    fw_printf("%s v%s: exit %d\n", FW_NAME, FW_VERSION_STRING, status);
    return status;
}
