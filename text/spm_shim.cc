// The C++ side of text/spm_shim.h: every entry point that can throw runs
// inside a catch-all, and every failed util::Status becomes our error with
// SentencePiece's own message (through uz_spm_error), so C callers see our
// error convention only. The plain accessors (piece size, special ids, id
// to piece) only read the loaded ModelProto and cannot throw.
#include "text/spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

struct uz_spm {
    sentencepiece::SentencePieceProcessor sp;
};

namespace {

__attribute__((format(printf, 2, 3))) uz_status fail(uz_status st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return uz_spm_error(st, msg);
}

// Turns whatever escaped a SentencePiece call into our error.
uz_status fail_exception(const char *what)
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return fail(UZ_ERR_NOMEM, "%s: out of memory", what);
    } catch (const std::exception &e) {
        return fail(UZ_ERR_ARG, "%s: %s", what, e.what());
    } catch (...) {
        return fail(UZ_ERR_ARG, "%s: unknown C++ exception", what);
    }
}

// Feeds the caller's strings to the trainer without copying them into a file.
class ArrayIterator : public sentencepiece::SentenceIterator {
  public:
    ArrayIterator(const char *const *texts, int64_t n) : texts_(texts), n_(n) { load(); }
    bool done() const override { return i_ >= n_; }
    void Next() override
    {
        i_++;
        load();
    }
    const std::string &value() const override { return value_; }
    sentencepiece::util::Status status() const override { return {}; }

  private:
    void load()
    {
        if (i_ < n_)
            value_ = texts_[i_] ? texts_[i_] : "";
    }
    const char *const *texts_;
    int64_t n_;
    int64_t i_ = 0;
    std::string value_;
};

constexpr unsigned int kTrainSeed = 20240601;

} // namespace

extern "C" {

uz_spm *uz_spm_load(const char *path)
{
    if (!path) {
        fail(UZ_ERR_ARG, "tokenizer: model path is NULL");
        return nullptr;
    }
    uz_spm *m = nullptr;
    try {
        m = new uz_spm;
        const auto st = m->sp.Load(path);
        if (!st.ok()) {
            // NotFound for a missing file, Internal for a file that is not a
            // serialized ModelProto: both are the file's fault, not ours.
            fail(st.code() == sentencepiece::util::StatusCode::kNotFound ? UZ_ERR_IO
                                                                             : UZ_ERR_FORMAT,
                    "tokenizer: cannot load SentencePiece model '%s': %s", path, st.message());
            delete m;
            return nullptr;
        }
        return m;
    } catch (...) {
        fail_exception("tokenizer: loading a SentencePiece model");
        delete m;
        return nullptr;
    }
}

void uz_spm_free(uz_spm *m)
{
    delete m;
}

int32_t uz_spm_piece_size(const uz_spm *m)
{
    return m->sp.GetPieceSize();
}

int32_t uz_spm_piece_to_id(const uz_spm *m, const char *piece)
{
    try {
        const int id = m->sp.PieceToId(piece);
        return m->sp.IdToPiece(id) == piece ? id : -1;
    } catch (...) {
        fail_exception("tokenizer: piece lookup");
        return -1;
    }
}

const char *uz_spm_id_to_piece(const uz_spm *m, int32_t id)
{
    if (id < 0 || id >= m->sp.GetPieceSize())
        return nullptr;
    return m->sp.IdToPiece(id).c_str();
}

int32_t uz_spm_unk_id(const uz_spm *m)
{
    return m->sp.unk_id();
}

int32_t uz_spm_bos_id(const uz_spm *m)
{
    return m->sp.bos_id();
}

int32_t uz_spm_eos_id(const uz_spm *m)
{
    return m->sp.eos_id();
}

int32_t uz_spm_pad_id(const uz_spm *m)
{
    return m->sp.pad_id();
}

int64_t uz_spm_encode(const uz_spm *m, const char *text, int32_t *ids, int64_t cap)
{
    try {
        std::vector<int> out;
        const auto st = m->sp.Encode(text, &out);
        if (!st.ok()) {
            fail(UZ_ERR_ARG, "tokenizer: encode failed: %s", st.message());
            return -1;
        }
        const int64_t n = static_cast<int64_t>(out.size());
        for (int64_t i = 0; i < n && i < cap; i++)
            ids[i] = out[static_cast<size_t>(i)];
        return n;
    } catch (...) {
        fail_exception("tokenizer: encode");
        return -1;
    }
}

int64_t uz_spm_decode(const uz_spm *m, const int32_t *ids, int64_t n, char *out, size_t cap)
{
    try {
        const int32_t size = m->sp.GetPieceSize();
        std::vector<int> in(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= size) {
                fail(UZ_ERR_ARG, "tokenizer: decode: id %d at position %lld is outside the "
                        "vocabulary [0, %d)", ids[i], static_cast<long long>(i), size);
                return -1;
            }
            in[static_cast<size_t>(i)] = ids[i];
        }
        std::string text;
        const auto st = m->sp.Decode(in, &text);
        if (!st.ok()) {
            fail(UZ_ERR_ARG, "tokenizer: decode failed: %s", st.message());
            return -1;
        }
        if (cap > 0) {
            const size_t k = text.size() < cap - 1 ? text.size() : cap - 1;
            std::memcpy(out, text.data(), k);
            out[k] = '\0';
        }
        return static_cast<int64_t>(text.size());
    } catch (...) {
        fail_exception("tokenizer: decode");
        return -1;
    }
}

uz_status uz_spm_train(const char *const *texts, int64_t n, const char *const *keys,
                       const char *const *values, int n_flags)
{
    try {
        std::unordered_map<std::string, std::string> kwargs;
        for (int i = 0; i < n_flags; i++)
            kwargs[keys[i]] = values[i];
        sentencepiece::SetRandomGeneratorSeed(kTrainSeed);
        ArrayIterator it(texts, n);
        const auto st = sentencepiece::SentencePieceTrainer::Train(kwargs, &it);
        if (!st.ok())
            return fail(UZ_ERR_ARG, "SentencePiece training failed: %s",
                           st.message());
        return UZ_OK;
    } catch (...) {
        return fail_exception("SentencePiece training");
    }
}

} // extern "C"
