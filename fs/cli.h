/*
 * charmfs's commands that do not mount (charmfs(1), Commands). Each takes
 * main()'s argc and argv, prints its result and its errors, and returns the
 * exit status: 0, 1 for a failure, or CLI_USAGE (2) for a usage error, on
 * which the caller prints the usage. From main() only.
 */
#ifndef CHARMFS_CLI_H
#define CHARMFS_CLI_H

#define CLI_USAGE 2

/* --check [--repair] STOREDIR */
int cli_check(int argc, char **argv);
/* --keygen KEYBASE */
int cli_keygen(int argc, char **argv);
/* --sign-release KEY.pem ARCHIVE [VERSION] */
int cli_sign_release(int argc, char **argv);

#endif
