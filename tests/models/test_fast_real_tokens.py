import torch

from attnlab.models.fast.real_tokens import RealTokens


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


def test_unpack_heads_lays_out_each_head_of_each_real_token_and_pack_heads_inverts_it() -> None:
    mask = torch.tensor([[True, True, False], [True, False, False]])
    tokens = RealTokens.of(mask, heads=2)
    assert tokens is not None
    x = torch.arange(3 * 2 * 2 * 4.0).view(3, 2, 2, 4)  # (N, keys and values, heads 2, D 4)
    out = tokens.unpack_heads(x)
    assert out.shape == (2, 2, 2, 3, 4) and out.is_contiguous()  # (2, B, heads, L, D)
    for n, (b, pos) in enumerate([(0, 0), (0, 1), (1, 0)]):
        torch.testing.assert_close(out[:, b, :, pos], x[n])
    assert out[:, 0, :, 2].abs().sum() == 0 and out[:, 1, :, 1:].abs().sum() == 0  # padding
    heads = out[0]  # (B, heads, L, D)
    torch.testing.assert_close(tokens.pack_heads(heads), x[:, 0].reshape(3, 8))


def test_unpack_heads_equals_unpack_then_splitting_the_heads() -> None:
    torch.manual_seed(0)
    mask = torch.arange(5)[None] < torch.tensor([5, 2, 4])[:, None]  # (B, L) = (3, 5)
    tokens = RealTokens.of(mask, heads=3)
    assert tokens is not None
    x = torch.randn(int(mask.sum()), 12)  # (N, heads * D) with heads 3, D 4
    split = tokens.unpack(x).view(3, 5, 3, 4).transpose(1, 2)  # (B, heads, L, D)
    torch.testing.assert_close(tokens.unpack_heads(x.view(-1, 3, 4)), split)
    torch.testing.assert_close(tokens.pack_heads(split), x)


def test_a_multiple_of_rows_adds_copies_of_the_first_token_that_unpacking_drops() -> None:
    mask = torch.tensor([[True, True, False], [True, False, False]])  # N = 3 real tokens
    tokens = RealTokens.of(mask, heads=2, multiple=4)
    assert tokens is not None and tokens.n == 3
    x = torch.randn(2, 3, 8, requires_grad=True)  # (B, L, heads * D)
    packed = tokens.pack(x)
    assert packed.shape == (4, 8)
    torch.testing.assert_close(packed[3], packed[0])
    spoiled = torch.cat([packed[:3], torch.full((1, 8), 99.0)])  # the extra row's result
    torch.testing.assert_close(tokens.unpack(spoiled), x.detach() * mask[..., None])
    heads = tokens.unpack_heads(spoiled.view(4, 2, 4))  # (B, heads, L, D)
    torch.testing.assert_close(heads, tokens.unpack(packed).view(2, 3, 2, 4).transpose(1, 2))
    assert tokens.pack_heads(heads).shape == (4, 8)  # as many rows as pack gives
    tokens.unpack(spoiled * 2.0).sum().backward()  # the extra row sends no gradient back
    torch.testing.assert_close(x.grad, 2.0 * mask[..., None].float().expand(2, 3, 8))
