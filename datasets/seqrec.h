/* Sequential-recommendation data: one chronological item list per user, held
 * as CSR (offsets + items). Two readers: the S3-Rec text format and RecBole's
 * atomic files. Item id 0 is padding; real items are 1..n_items. */
#ifndef UZ_DATASETS_SEQREC_H
#define UZ_DATASETS_SEQREC_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct uz_seqrec {
    int64_t n_users;
    int64_t n_items;          /* ids run 1..n_items */
    int64_t n_inter;
    int64_t n_items_seen;     /* distinct items with at least one interaction */
    int64_t min_len, max_len; /* shortest and longest history */
    int64_t *offsets;         /* [n_users + 1]: user u owns items[offsets[u] .. offsets[u+1]) */
    int32_t *items;           /* [n_inter], oldest first */
    const char **user_names;  /* [n_users]: the user token as written in the file */
    /* [n_items + 1]: RecBole's raw item token per dense id ([0] = "[PAD]");
     * NULL for the text format, whose ids are used as given. */
    const char **item_names;
    /* [n_items + 1] titles from a .item file (entries NULL where the file
     * has no row for the item); NULL when there are no titles. */
    const char **titles;
    char *strings;            /* owns every name and title */
} uz_seqrec;

/* S3-Rec text format: `user item item ...` per line, separated by spaces or
 * tabs, ids as given (n_items = the largest item id). Errors name path:line:
 * a non-integer or non-positive id, a user without items, a user that appears
 * twice, a blank line inside the file. */
uz_status uz_seqrec_load_text(const char *path, uz_seqrec *out);

/* RecBole atomic files: inter_path is a tab-separated .inter with a typed
 * header (`user_id:token item_id:token [timestamp:float] ...`); item_path is an
 * optional .item (NULL = none) whose `*title:` column gives titles. Users and
 * items get dense ids 1..N by first appearance in the .inter file, then items
 * found only in the .item file, as RecBole remaps them. Each user's items are
 * stable-sorted by timestamp when the column exists, else kept in file order.
 * Errors name path:line: duplicate header (a repeated column or a second
 * header line), a missing or untyped required column, a wrong column count,
 * an empty id, a timestamp that is not a number, an item listed twice in the
 * .item file. Interactions of items absent from the .item file are kept
 * (RecBole would drop them); they just have no title. */
uz_status uz_seqrec_load_atomic(const char *inter_path, const char *item_path, uz_seqrec *out);

/* Picks the reader: a directory DIR loads DIR/<basename>.inter; a path ending
 * in .inter loads it as atomic with the sibling .item when that exists; any
 * other path is the text format. */
uz_status uz_seqrec_load(const char *path, uz_seqrec *out);

void uz_seqrec_free(uz_seqrec *d);

/* "22363 users, 12101 items, 198502 interactions, avg length 8.88 (5..204)". */
void uz_seqrec_summary(const uz_seqrec *d, char *buf, size_t n);

/* Writes the item's external name (raw token, or the id itself) into buf. */
const char *uz_seqrec_item_name(const uz_seqrec *d, int32_t item, char *buf, size_t n);

static inline int64_t uz_seqrec_len(const uz_seqrec *d, int64_t user)
{
    return d->offsets[user + 1] - d->offsets[user];
}

#endif
