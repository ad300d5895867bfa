/* The kinds of RoPE frequency scaling, shared by the model configuration
 * (lib/tk_model.h) and the kernels (kernels/kernels.h), so that one value
 * means one thing on both sides of the interface. */
#ifndef TK_ROPE_TYPE_H
#define TK_ROPE_TYPE_H

enum tk_rope_type { TK_ROPE_DEFAULT = 0, TK_ROPE_LINEAR = 1, TK_ROPE_LLAMA3 = 2 };

#endif
