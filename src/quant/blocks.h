// Block layouts of the quantized GGUF types, byte for byte as llama.cpp ggml-common.h writes them.
#pragma once

#include "quant/blocks_legacy.h"
#include "quant/blocks_k.h"
