"""Every op of minigrad, one class each (forward and backward side by side)."""
from minigrad.function import ALL_OPS, Boundary, Example, Function
from minigrad.ops.elementwise import (Abs, Add, Cast, Div, Exp, Log, MaskedFill, Maximum, Minimum, Mul, Neg, Pow,
                                      Relu, Sigmoid, Sqrt, Sub, Tanh, Where)
from minigrad.ops.linalg import Affine, CosineSimilarity, Einsum, MatMul
from minigrad.ops.nn import AttentionWeights, CrossEntropy, Dropout, Gelu, LayerNorm
from minigrad.ops.reduce import LogSoftmax, LogSumExp, Max, Mean, Min, Softmax, Sum, Var
from minigrad.ops.shape import (BroadcastTo, Concatenate, GetItem, Reshape, ScatterAdd, Stack, Transpose, expanded_shape,
                                plain_index, squeezed_shape)

__all__ = [cls.__name__ for cls in ALL_OPS] + ["ALL_OPS", "Boundary", "Example", "Function", "plain_index",
                                               "squeezed_shape", "expanded_shape"]
