/* The C API of the SentencePiece plugin (libuserllm_spm.so). Plain C so that
 * nothing of libsentencepiece or its embedded protobuf crosses the dlopen
 * boundary (see DEVELOPERS.md, "Why SentencePiece is a plugin"). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct userllm_spm userllm_spm;

/* The version both sides must agree on; bump when the API changes. */
#define USERLLM_SPM_API_VERSION 1
int userllm_spm_api_version(void);

/* NULL on failure, with a message in err (always NUL-terminated). */
userllm_spm* userllm_spm_load(const char* path, char* err, size_t err_size);
void userllm_spm_free(userllm_spm* spm);
/* The last encode/decode error of this handle ("" when none). */
const char* userllm_spm_error(const userllm_spm* spm);

/* Encodes text (no BOS/EOS). Writes up to cap ids; returns how many there are
 * (call again with a bigger buffer when that exceeds cap), or -1 on error. */
int64_t userllm_spm_encode(userllm_spm* spm, const char* text, size_t len, int32_t* ids, size_t cap);
/* Decodes ids into out (up to cap bytes, not NUL-terminated); returns the full
 * length, or -1 on error (an id out of range, for one). */
int64_t userllm_spm_decode(userllm_spm* spm, const int32_t* ids, size_t n, char* out, size_t cap);

int32_t userllm_spm_piece_size(const userllm_spm* spm);
int32_t userllm_spm_bos_id(const userllm_spm* spm); /* -1 when none */
int32_t userllm_spm_eos_id(const userllm_spm* spm); /* -1 when none */

#ifdef __cplusplus
}
#endif
