/*
 * selftest.h - power-on self-test: known-answer tests of every module.
 */
#ifndef SELFTEST_H
#define SELFTEST_H

/* Runs every group, prints one line per group; returns the failure count. */
unsigned selftest_run(void);
unsigned selftest_checks(void);

#endif /* SELFTEST_H */
