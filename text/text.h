/* The text folder's public header: the SentencePiece tokenizer and the
 * captioning metrics. */
#ifndef UZ_TEXT_H
#define UZ_TEXT_H

#include "text/caption_metrics.h"
#include "text/tokenizer.h"

#endif
