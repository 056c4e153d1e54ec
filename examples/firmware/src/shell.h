/*
 * shell.h - a line-oriented command shell on UART0.
 *
 * Characters go in through shell_input(), one at a time, whether they come
 * from the UART receive ring buffer or from the boot script in main.c, so
 * both paths exercise the same line editor, tokenizer and dispatcher.
 */
#ifndef SHELL_H
#define SHELL_H

typedef int (*shell_handler)(int argc, char **argv);

typedef struct {
    const char *name;
    const char *usage;
    const char *help;
    shell_handler handler;
} shell_cmd;

#define SHELL_PROMPT "fw> "

void shell_init(void);
void shell_prompt(void);
/* Feed one received character; returns 1 when a line was executed. */
int shell_input(char c);
/* Tokenise and run one command line in place; returns the command's status. */
int shell_execute(char *line);
/* Exit status requested by the "exit" command, or -1. */
int shell_exit_request(void);
unsigned shell_commands_run(void);
unsigned shell_commands_failed(void);

/* Parses decimal, 0x-hex or 0b-binary with an optional sign; 0 on success. */
int shell_parse_long(const char *s, long *out);

#endif /* SHELL_H */
