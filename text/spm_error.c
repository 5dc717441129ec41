/* The C half of the SentencePiece shim: records the messages spm_shim.cc
 * formats (see uz_spm_error in spm_shim.h). */
#include "text/spm_shim.h"

uz_status uz_spm_error(uz_status st, const char *msg)
{
    return UZ_FAIL(st, "%s", msg);
}
