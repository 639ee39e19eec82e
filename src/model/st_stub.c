#include "model/model_impl.h"
int model_load_safetensors(model *m, const char *path, const model_load_opts *o, cape_err *e)
{ (void)m; (void)o; return err_set(e, CAPE_EINPUT, "%s: safetensors not yet", path); }
tok *tok_from_hf_json(const char *path, cape_err *e) { err_set(e, 2, "%s: no", path); return NULL; }
tok *tok_from_hf_json_buffer(const char *j, size_t l, const char *name, cape_err *e) { (void)j; (void)l; err_set(e, 2, "%s: no", name); return NULL; }
