# %% [markdown] en
# # The lecture notes §1.1, cell by cell, in minigrad
#
# The notes ("Attention Mechanisms과 Self Attention") work in PyTorch.  Here every cell of
# §1.1.1 and §1.1.2 is redone with minigrad, with the notes' own numbers next to ours, and
# then one step the notes cannot take: `backward()` through the whole calculation.
#
# *This notebook is written by `tools/make_notebooks.py` from `notebooks/00_lecture_notes.py`
# (edit that file, then run `python tools/make_notebooks.py 00`); its Korean twin is
# `00_lecture_notes.ko.ipynb`.*
# %% [markdown] ko
# # 강의 노트 §1.1을 셀 하나하나 minigrad로
#
# 강의 노트("Attention Mechanisms과 Self Attention")는 PyTorch로 작성되어 있습니다.  이
# 노트북은 §1.1.1과 §1.1.2의 셀을 모두 minigrad로 다시 실행하고, 노트에 찍힌 숫자와 우리
# 결과를 나란히 놓습니다.  그리고 노트에서는 하지 않은 한 걸음을 더 나아갑니다: 계산 전체를
# 거슬러 올라가는 `backward()`입니다.
#
# *이 노트북은 `tools/make_notebooks.py`가 `notebooks/00_lecture_notes.py`로부터 만듭니다
# (그 파일을 고친 뒤 `python tools/make_notebooks.py 00`을 실행하세요).  영어판은
# `00_lecture_notes.ipynb`입니다.*

# %%
import numpy as np
import matplotlib.pyplot as plt

import minigrad.functional as F
from minigrad import Tensor
from attention import gaussian_weights, kernel_smooth

np.set_printoptions(precision=4, suppress=True)

# %% [markdown] en
# ## §1.1.1 Re-weighting a noisy series
#
# A measured series $\mathbf{x}$ is noisy.  The notes' remedy: describe the value at time $i$
# not by $x_i$ alone but by the values near $i$, weighted by a normal density centred at $i$:
# $\mathbf{w}_i = [w_{0i}, \dots, w_{ni}]$ and $y_i = \mathbf{w}_i^T \mathbf{x}$.  The new
# $y_i$ carries its context, not only time $i$.  First a series: a sine plus noise.
# %% [markdown] ko
# ## §1.1.1 노이즈가 있는 시계열의 재가중(re-weighting)
#
# 측정한 시계열 $\mathbf{x}$에는 노이즈가 섞여 있습니다.  노트가 제안하는 방법은 시점 $i$의
# 값을 $x_i$ 하나로만 나타내지 말고, $i$ 근처의 값들을 $i$를 평균으로 하는 정규분포의 밀도로
# 가중해서 나타내자는 것입니다: $\mathbf{w}_i = [w_{0i}, \dots, w_{ni}]$, $y_i = \mathbf{w}_i^T \mathbf{x}$.
# 이렇게 얻은 $y_i$는 시점 $i$만이 아니라 주변 맥락의 정보도 함께 담습니다.  먼저 사인파에
# 노이즈를 더해 시계열을 하나 만듭니다.

# %%
n = 60
t = np.arange(n)
clean = np.sin(2 * np.pi * t / 30)
x = clean + 0.4 * np.random.default_rng(0).standard_normal(n)
x[:5]

# %% [markdown] en
# The weights of time $i = 30$, written out: a normal density centred at 30 with width
# $\sigma = 3$, evaluated at every time $j$ and divided by its sum (the density's constant
# factor cancels).  Then $y_{30} = \mathbf{w}_{30}^T \mathbf{x}$.
# %% [markdown] ko
# 시점 $i = 30$의 가중치를 직접 써 봅니다: 30을 평균, $\sigma = 3$을 폭으로 하는 정규분포의
# 밀도를 모든 시점 $j$에서 구하고 그 합으로 나눕니다 (분포의 상수 계수는 나눗셈에서
# 사라집니다).  그러면 $y_{30} = \mathbf{w}_{30}^T \mathbf{x}$입니다.

# %%
i, sigma = 30, 3.0
w_i = np.exp(-(t - i) ** 2 / (2 * sigma ** 2))
w_i = w_i / w_i.sum()
print("the largest weights are at times", np.sort(np.argsort(w_i)[-5:]), f"and all sum to {w_i.sum():.6f}")
print(f"x_30 = {x[30]:.4f}, y_30 = w_30 . x = {w_i @ x:.4f}, clean value {clean[30]:.4f}")

# %% [markdown] en
# All rows together form the matrix $W$ (row $i$ is $\mathbf{w}_i$), so the whole smoothed
# series is one product, $\mathbf{y} = W\mathbf{x}$.  The library builds the same $W$
# (`gaussian_weights`) and the product (`kernel_smooth`):
# %% [markdown] ko
# 모든 행을 모으면 행렬 $W$가 됩니다 ($i$번째 행이 $\mathbf{w}_i$).  그래서 매끄럽게 만든
# 시계열 전체는 곱셈 한 번, $\mathbf{y} = W\mathbf{x}$입니다.  라이브러리의 `gaussian_weights`는
# 같은 $W$를, `kernel_smooth`는 그 곱을 계산합니다:

# %%
W_series = gaussian_weights(n, sigma)              # (60, 60) Tensor, rows sum to 1
y = kernel_smooth(x, sigma)                        # (60,) = W x
print("row 30 equals w_i:", np.allclose(W_series[i].data, w_i))
print("y equals W x:     ", np.allclose(y.data, W_series.data @ x))
print("y_30 =", y[i])

# %% [markdown] en
# How wide should the weights be?  Too narrow keeps the noise, too wide flattens the sine
# itself.  The error against the clean sine tells:
# %% [markdown] ko
# 가중치의 폭은 얼마가 좋을까요?  너무 좁으면 노이즈가 그대로 남고, 너무 넓으면 사인파
# 자체가 납작해집니다.  깨끗한 사인파와의 오차가 알려 줍니다:

# %%
for s in (0.5, 1.0, 3.0, 10.0):
    error = np.mean((kernel_smooth(x, s).data - clean) ** 2)
    print(f"sigma {s:>4}: mean squared error {error:.4f}")
print(f"raw x:      mean squared error {np.mean((x - clean) ** 2):.4f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
left.plot(t, x, ".", color="grey", label="noisy x")
left.plot(t, clean, "k--", lw=1, label="clean")
for s in (1.0, 3.0, 10.0):
    left.plot(t, kernel_smooth(x, s).data, label=f"W x, sigma {s:g}")
left.set_xlabel("time i"), left.set_title("x, and y = W x for three widths")
left.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))   # beside the data, not on it
right.imshow(W_series.data, cmap="Blues")
right.set_title("W, sigma = 3: a band"), right.set_xlabel("time j")
right.set_ylabel("time i");

# %% [markdown] en
# ## §1.1.2 "bank of the river"
#
# For text, closeness in time says little: which word matters to which is what has to be
# learned.  The notes' idea: reuse what word embeddings already know, the dot product as
# similarity.  Four tokens, "bank", "of", "the", "river", each with a 2-D embedding.  The
# notes drew `V = torch.randn(4, 2)` (seed 42) and printed it; we type in the printed values.
# (They are rounded to 4 places, so a last digit of ours may differ from the notes by one.)
# %% [markdown] ko
# ## §1.1.2 "bank of the river"
#
# 텍스트에서는 시간상 가깝다는 것이 별 의미가 없습니다.  어떤 단어가 어떤 단어에 중요한지를
# 배워야 합니다.  노트의 아이디어는 워드 임베딩이 이미 알고 있는 것, 즉 유사도로서의 내적을
# 다시 쓰자는 것입니다.  토큰은 "bank", "of", "the", "river" 네 개이고, 각각 2차원 임베딩을
# 가집니다.  노트는 `V = torch.randn(4, 2)`(seed 42)로 뽑은 값을 출력해 두었고, 우리는 그
# 출력된 값을 그대로 입력합니다.  (소수 넷째 자리에서 반올림된 값이라, 마지막 자리가 노트와
# 1만큼 다를 수 있습니다.)

# %%
tokens = ["bank", "of", "the", "river"]
V = Tensor([[0.2815, 0.0562],
            [0.5227, -0.2384],
            [-0.0499, 0.5263],
            [-0.0085, 0.7291]], requires_grad=True)   # (4, 2): one row per token
V

# %% [markdown] en
# `requires_grad=True` asks minigrad to record every operation on `V`; that record is what
# `backward()` will walk at the end.  A result shows the operation that made it
# (`grad_fn=MatMul`).
#
# The dot product of "bank" with itself (notes: `tensor(0.0824)`):
# %% [markdown] ko
# `requires_grad=True`는 `V`에 가해지는 모든 연산을 기록하라는 뜻입니다.  마지막에
# `backward()`가 거슬러 올라가는 것이 바로 이 기록입니다.  결과에는 그것을 만든 연산이
# 함께 표시됩니다 (`grad_fn=MatMul`).
#
# "bank"와 자기 자신의 내적 (노트: `tensor(0.0824)`):

# %%
V[0] @ V[0]

# %% [markdown] en
# "bank" against every token at once, `V[0] @ V.T` (notes: `[0.0824, 0.1338, 0.0155, 0.0386]`;
# our 0.1337 is the rounding of the printed `V`):
# %% [markdown] ko
# "bank"와 모든 토큰의 내적을 한 번에, `V[0] @ V.T` (노트: `[0.0824, 0.1338, 0.0155, 0.0386]`;
# 우리의 0.1337은 출력된 `V`가 반올림되어 생긴 차이입니다):

# %%
V[0] @ V.T

# %% [markdown] en
# The notes also tried an elementwise product, `V[0].reshape(1,2) * V.T`, and PyTorch refused:
# *The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 1*.
# Shapes (1, 2) and (2, 4) cannot be broadcast together.  minigrad refuses too, and its
# message names the operation and both shapes:
# %% [markdown] ko
# 노트에서는 원소별 곱 `V[0].reshape(1,2) * V.T`도 시도했는데, PyTorch가 거부했습니다:
# *The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 1*.
# (1, 2)와 (2, 4) 모양은 브로드캐스팅이 되지 않습니다.  minigrad도 거부하며, 오류 메시지에
# 연산 이름과 두 모양이 모두 나옵니다:

# %% tags=["raises-exception"]
V[0].reshape(1, 2) * V.T

# %% [markdown] en
# What that cell was after works with `V` itself, shape (4, 2): the (1, 2) row broadcasts
# down the four rows, and summing each row gives the four dot products again.
# %% [markdown] ko
# 그 셀이 하려던 계산은 `V.T` 대신 (4, 2) 모양의 `V`를 쓰면 됩니다.  (1, 2) 행이 네 행에
# 브로드캐스팅되고, 각 행을 더하면 다시 네 개의 내적이 나옵니다.

# %%
(V[0].reshape(1, 2) * V).sum(axis=1)

# %% [markdown] en
# ### Attention weights: W = softmax(V Vᵀ)
#
# All dot products at once, $VV^T$ (4, 4), and a softmax along each row turns row $i$ into
# weights that are positive and sum to 1: how much token $i$ looks at each token.  The notes'
# `torch.nn.Softmax(dim=1)` is `F.softmax(..., axis=1)` here.
# %% [markdown] ko
# ### 어텐션 가중치: W = softmax(V Vᵀ)
#
# 모든 내적을 한 번에 구한 $VV^T$ (4, 4)에 행마다 softmax를 적용하면, $i$번째 행은 양수이고
# 합이 1인 가중치가 됩니다: 토큰 $i$가 각 토큰을 얼마나 바라보는지입니다.  노트의
# `torch.nn.Softmax(dim=1)`은 여기서 `F.softmax(..., axis=1)`입니다.

# %%
W = F.softmax(V @ V.T, axis=1)
W.shape

# %% [markdown] en
# The notes print `W.T`; its columns are the rows of `W` (notes:
# `[[0.2535, 0.2702, 0.2177, 0.2060], [0.2668, 0.3288, 0.1842, 0.1658], [0.2371, 0.2031, 0.2834, 0.2910], [0.2426, 0.1978, 0.3147, 0.3372]]`;
# one entry, 0.2032, differs in the last digit by the rounding of `V`):
# %% [markdown] ko
# 노트는 `W.T`를 출력합니다.  그 열이 `W`의 행입니다 (노트:
# `[[0.2535, 0.2702, 0.2177, 0.2060], [0.2668, 0.3288, 0.1842, 0.1658], [0.2371, 0.2031, 0.2834, 0.2910], [0.2426, 0.1978, 0.3147, 0.3372]]`;
# 0.2032 한 칸만 `V`의 반올림 때문에 마지막 자리가 다릅니다):

# %%
W.T

# %% [markdown] en
# Row 0 alone is the softmax of "bank"'s dot products (notes: `[0.2535, 0.2668, 0.2371, 0.2426]`):
# %% [markdown] ko
# 0번 행만 따로 보면 "bank"의 내적들에 softmax를 적용한 것입니다 (노트: `[0.2535, 0.2668, 0.2371, 0.2426]`):

# %%
F.softmax(V[0] @ V.T, axis=0)

# %% [markdown] en
# ### New vectors: weighted sums of all the embeddings
#
# Each token's new vector is the sum of all embeddings, weighted by its row of `W`:
# $\mathbf{y}_i = \sum_j w_{ij} \mathbf{v}_j$.  Written as in the notes, one token at a time:
# %% [markdown] ko
# ### 새 벡터: 모든 임베딩의 가중합
#
# 각 토큰의 새 벡터는 모든 임베딩을 `W`의 해당 행으로 가중해서 더한 것입니다:
# $\mathbf{y}_i = \sum_j w_{ij} \mathbf{v}_j$.  노트처럼 토큰 하나씩 써 보면:

# %%
transformed_bank = (W[0].reshape(4, 1) * V).sum(axis=0)
transformed_of = (W[1].reshape(4, 1) * V).sum(axis=0)
transformed_the = (W[2].reshape(4, 1) * V).sum(axis=0)
transformed_river = (W[3].reshape(4, 1) * V).sum(axis=0)

# %% [markdown] en
# Notes: `transformed_of` is `[0.2361, 0.1879]`, `transformed_river` is `[0.1273, 0.3711]`.
# %% [markdown] ko
# 노트: `transformed_of`는 `[0.2361, 0.1879]`, `transformed_river`는 `[0.1273, 0.3711]`입니다.

# %%
transformed_of

# %%
transformed_river

# %% [markdown] en
# The notes then check one term by hand, `0.2535 * 0.2815 = 0.07136025`: the weight "bank"
# gives itself times the first coordinate of "bank", the first term of `transformed_bank[0]`.
# Ours below is 0.071354, not 0.071360: the notes multiplied the two numbers as printed, and
# 0.2535 is a rounding; we multiply the weight itself, 0.253477..., by 0.2815.
# %% [markdown] ko
# 노트는 이어서 항 하나를 손으로 계산합니다, `0.2535 * 0.2815 = 0.07136025`: "bank"가
# 자기 자신에게 주는 가중치와 "bank"의 첫 좌표의 곱으로, `transformed_bank[0]`의 첫 항입니다.
# 아래 우리 값은 0.071360이 아니라 0.071354입니다: 노트는 출력된 두 수를 곱했는데 0.2535는
# 반올림된 값이고, 우리는 가중치 자체인 0.253477...에 0.2815를 곱하기 때문입니다.

# %%
(W[0, 0] * V[0, 0]).item()

# %% [markdown] en
# The four weighted sums are one matrix product, $Y = WV$ (4, 4) @ (4, 2) -> (4, 2), and the
# same sum written with indices is `einsum("ij,jd->id", W, V)`:
# %% [markdown] ko
# 네 개의 가중합은 행렬곱 한 번, $Y = WV$ (4, 4) @ (4, 2) -> (4, 2)이고, 같은 합을 첨자로
# 쓰면 `einsum("ij,jd->id", W, V)`입니다:

# %%
Y = W @ V                                   # (4, 2): row i = y_i
Y_einsum = F.einsum("ij,jd->id", W, V)      # y_id = sum_j w_ij v_jd
by_rows = np.stack([transformed_bank.data, transformed_of.data, transformed_the.data, transformed_river.data])
print(Y)
print("W @ V equals the weighted sums: ", np.allclose(Y.data, by_rows, rtol=0, atol=1e-12))
print("einsum equals the weighted sums:", np.allclose(Y_einsum.data, by_rows, rtol=0, atol=1e-12))

# %% [markdown] en
# ### softmax(V)
#
# The notes also print `softmax(V)`, and its table sums to 1 *down each column*: that cell ran
# before `softmax` was defined with `dim=1` (cell 12 against cell 35), with a softmax over
# axis 0.  In minigrad the axis is always said (notes:
# `[[0.2675, 0.1885], [0.3404, 0.1404], [0.1920, 0.3016], [0.2001, 0.3694]]`).  Our last entry
# is 0.3695: from the printed, rounded `V` it is 0.36945..., just above the half-way point;
# the notes computed it from `V`'s unrounded digits.
# %% [markdown] ko
# 노트는 `softmax(V)`도 출력하는데, 그 표는 *각 열을 따라* 합이 1입니다.  그 셀(12번)은
# `softmax`를 `dim=1`로 정의한 셀(35번)보다 먼저 실행되었고, 축 0에 대한 softmax였던
# 것입니다.  minigrad에서는 축을 항상 직접 적습니다 (노트:
# `[[0.2675, 0.1885], [0.3404, 0.1404], [0.1920, 0.3016], [0.2001, 0.3694]]`).  우리의 마지막
# 값은 0.3695입니다: 출력된(반올림된) `V`로 계산하면 0.36945...로 반올림 경계를 살짝 넘고,
# 노트는 반올림 전의 `V`로 계산했기 때문입니다.

# %%
softmax_V = F.softmax(V, axis=0)
print(softmax_V)
print("column sums:", softmax_V.data.sum(axis=0))
print("over axis 1 instead, each row sums to 1:\n", F.softmax(V, axis=1).data)

# %% [markdown] en
# ### Did "bank" move towards "river"?
#
# Cosine similarity before (notes: `0.1842`; ours 0.1843 from the rounded `V`) and after
# re-weighting (notes: `0.9453`):
# %% [markdown] ko
# ### "bank"가 "river" 쪽으로 움직였을까?
#
# 재가중 전의 코사인 유사도 (노트: `0.1842`; 반올림된 `V` 때문에 우리는 0.1843)와 재가중
# 후의 코사인 유사도 (노트: `0.9453`):

# %%
cos_before = F.cosine_similarity(V[0], V[3], axis=0)
cos_before

# %%
cos_after = F.cosine_similarity(transformed_bank, transformed_river, axis=0)
cos_after

# %% [markdown] en
# ## What the notes cannot do: backward()
#
# `cos_after` came from `V` through products, a softmax, weighted sums and a cosine, and
# minigrad recorded every step.  `backward()` walks that record from the end to the start and
# leaves in `V.grad` the derivative of the cosine with respect to every number in `V`.
# %% [markdown] ko
# ## 노트가 하지 못한 것: backward()
#
# `cos_after`는 `V`에서 곱셈, softmax, 가중합, 코사인을 거쳐 나왔고, minigrad는 그 모든
# 단계를 기록해 두었습니다.  `backward()`는 그 기록을 끝에서 처음으로 거슬러 올라가며, `V`의
# 모든 원소에 대한 코사인의 미분을 `V.grad`에 남깁니다.

# %%
cos_after.backward()
V.grad

# %% [markdown] en
# Row $j$ of `V.grad` says how moving token $j$'s embedding would change the cosine of the
# new "bank" and "river": moving it a small step $\epsilon$ along its row of `V.grad` raises
# the cosine by about $\epsilon$ times that row's squared length.  Check one entry against a
# finite difference, computed with plain NumPy (no minigrad in it):
# %% [markdown] ko
# `V.grad`의 $j$번째 행은 토큰 $j$의 임베딩을 움직이면 새 "bank"와 "river"의 코사인이 어떻게
# 변하는지를 알려 줍니다: 그 행의 방향으로 작은 거리 $\epsilon$만큼 움직이면 코사인은 대략
# $\epsilon$ 곱하기 그 행의 길이의 제곱만큼 커집니다.  한 원소를 순수 NumPy로 계산한
# 유한 차분과 비교해 봅시다 (minigrad는 쓰지 않습니다):

# %%
def cosine_after_attention(V_array):
    scores = V_array @ V_array.T
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    bank, river = weights[0] @ V_array, weights[3] @ V_array
    return bank @ river / np.linalg.norm(bank) / np.linalg.norm(river)


h = 1e-6
nudge = np.zeros((4, 2))
nudge[0, 1] = h                              # move "bank" up a little
finite_difference = (cosine_after_attention(V.data + nudge) - cosine_after_attention(V.data - nudge)) / (2 * h)
print(f"d cos / d V[0, 1]: backward() {V.grad.data[0, 1]:.6f}, finite difference {finite_difference:.6f}")

# %% [markdown] en
# What the gradient says, row by row:
#
# - **bank** (row 0) points up and to the left, towards "river": the cosine grows when "bank"
#   moves towards "river", as one would guess.
# - **river** (row 3) points right and down, towards "bank": the same pull from the other side.
# - **of** (row 1) matters almost as much, though it is in neither vector's name: every token
#   looks at every token, so "of" sits inside both weighted sums and inside their weights.
# - **the** (row 2) matters least.
#
# `V` is used three times in `softmax(V Vᵀ) V` (twice in the scores, once as the values);
# the gradient is the sum of the three paths, and minigrad adds them where they meet.  The
# arrows below draw each row of `V.grad` at its token.
# %% [markdown] ko
# 기울기가 말해 주는 것을 행마다 읽어 보면:
#
# - **bank** (0번 행)는 왼쪽 위, 즉 "river" 쪽을 가리킵니다: "bank"가 "river" 쪽으로 움직이면
#   코사인이 커진다는 뜻으로, 짐작한 대로입니다.
# - **river** (3번 행)는 오른쪽 아래, 즉 "bank" 쪽을 가리킵니다: 반대편에서 당기는 같은 힘입니다.
# - **of** (1번 행)는 두 벡터 어디에도 이름이 없지만 거의 그만큼 중요합니다: 모든 토큰이 모든
#   토큰을 바라보므로, "of"는 두 가중합 안에도, 그 가중치 안에도 들어 있습니다.
# - **the** (2번 행)의 영향이 가장 작습니다.
#
# `softmax(V Vᵀ) V`에서 `V`는 세 번 쓰입니다 (점수에 두 번, 값으로 한 번).  기울기는 세
# 경로의 합이고, minigrad는 경로들이 만나는 곳에서 그것들을 더합니다.  아래 그림의 화살표는
# `V.grad`의 각 행을 해당 토큰 위치에 그린 것입니다.

# %%
fig, ax = plt.subplots(figsize=(4, 4.8))
ax.scatter(*V.data.T, color="black")
for name, point, grad in zip(tokens, V.data, V.grad.data):
    away = -18 * grad / np.linalg.norm(grad)    # the label on the side the arrow does not take
    ax.annotate(name, point, textcoords="offset points", xytext=away, ha="center", va="center")
    ax.arrow(*point, *(0.5 * grad), width=0.006, color="crimson")
ax.set_title("V (points) and V.grad (arrows, half length)")
ax.set_xlim(-0.2, 0.75), ax.set_ylim(-0.35, 0.9), ax.set_aspect("equal"), ax.grid(alpha=0.3);

# %% [markdown] en
# To see how `backward()` got there, op by op, demo 03 writes a page to step through it in a
# browser (`notebooks/03_bank_of_the_river.ipynb`, or `python -m demos --only 3`).
# %% [markdown] ko
# `backward()`가 연산 하나하나를 거쳐 어떻게 이 값에 도달했는지 보려면, 데모 03이 브라우저에서
# 한 단계씩 따라가 볼 수 있는 페이지를 만들어 줍니다 (`notebooks/03_bank_of_the_river.ipynb`,
# 또는 `python -m demos --only 3`).
