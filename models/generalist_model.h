/* The "generalist" model family (models/generalist.h is the network). */
#ifndef UZ_GENERALIST_MODEL_H
#define UZ_GENERALIST_MODEL_H

#include "models/generalist.h"

extern const uz_model_family uz_family_generalist;

/* The network and tokenizer of a generalist model; NULL for a model of
 * another family (the tokenizer also when it was built without one). */
const uz_generalist *uz_gen_model_net(const uz_model *m);
const uz_tokenizer *uz_gen_model_tokenizer(const uz_model *m);

/* After a checkpoint load: fails, naming model.tokenizer, when the loaded
 * tokenizer is not the one the checkpoint was trained with (its
 * fingerprint, the checkpoint entry "tokenizer.fingerprint", differs).
 * Training and evaluation check this themselves. */
uz_status uz_gen_model_check_tokenizer(const uz_model *m);

#endif
