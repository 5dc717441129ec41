/* The "seqrec" model family: sequential recommendation on the SASRec
 * encoder (recsys/sasrec.h) trained as MCLRec, MCLRec-J, CL4SRec or SASRec
 * (recsys/mclrec.h) on one user-history file (S3-Rec text, a RecBole
 * .inter file or directory). One task, "next-item": its examples are the
 * leave-one-out training prefixes; the evaluation gives full-ranking
 * validation and test metrics ("valid/hr@5" ... "test/mrr@10"). The model
 * has its own update rule (the three-step MCLRec update, two optimizers),
 * so the augmenters and both optimizer states are model state in the
 * checkpoint. Parameters are the encoder's, under the official names. */
#ifndef UZ_MODELS_SEQREC_H
#define UZ_MODELS_SEQREC_H

#include "datasets/seqrec.h"
#include "recsys/sasrec.h"
#include "train/model.h"

extern const uz_model_family uz_family_seqrec;

/* The loaded data and the encoder of a seqrec model; NULL for a model of
 * another family (or one built without data, for the data). */
const uz_seqrec *uz_seqrec_model_data(const uz_model *m);
const uz_sasrec *uz_seqrec_model_encoder(const uz_model *m);

#endif
