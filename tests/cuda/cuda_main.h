/* main() for a CUDA suite that defines `Suite *make_suite(void)`: without a
 * CUDA device it prints one SKIP line and succeeds; otherwise it runs the
 * suite in this process (CK_NOFORK: CUDA initialised in a parent does not
 * survive fork, so Check must not fork). */
#ifndef UZ_TEST_CUDA_MAIN_H
#define UZ_TEST_CUDA_MAIN_H

#include "core/device.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *make_suite(void);

int main(int argc, char **argv)
{
    (void)argc;
    if (uz_cuda_device_count() == 0) {
        printf("SKIP: %s: no CUDA device present, the CUDA tests did not run\n", argv[0]);
        return EXIT_SUCCESS;
    }
    SRunner *sr = srunner_create(make_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
