import torch

from attnlab.models.real_tokens import RealTokens


def test_pack_keeps_the_real_tokens_in_row_major_order_and_unpack_restores_them() -> None:
    mask = torch.tensor([[True, True, False], [True, False, False]])
    x = torch.arange(12.0).view(2, 3, 2)  # (B, L, F) = (2, 3, 2)
    tokens = RealTokens.of(mask)
    assert tokens is not None
    assert tokens.index.tolist() == [0, 1, 3]
    packed = tokens.pack(x)
    assert packed.tolist() == [[0.0, 1.0], [2.0, 3.0], [6.0, 7.0]]
    unpacked = tokens.unpack(packed)
    assert unpacked.shape == (2, 3, 2)
    torch.testing.assert_close(unpacked, x * mask[..., None])  # zeros at the padding


def test_a_batch_without_padding_needs_no_packing() -> None:
    assert RealTokens.of(torch.ones(2, 4, dtype=torch.bool)) is None


def test_gradients_flow_through_pack_and_unpack_to_the_real_tokens_only() -> None:
    mask = torch.tensor([[True, False], [True, True]])
    tokens = RealTokens.of(mask)
    assert tokens is not None
    x = torch.randn(2, 2, 3, requires_grad=True)
    (tokens.unpack(tokens.pack(x) * 2.0)).sum().backward()
    torch.testing.assert_close(x.grad, 2.0 * mask[..., None].float().expand(2, 2, 3))
