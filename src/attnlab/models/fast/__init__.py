"""Speed-only twins of the readable models, chosen by `model.kernels: fast` in models/build.py.

Each has the interface and the parameters of the reference it replaces, and a test holds it to
that reference (outputs and gradients):

    attention.py      FastAdditiveScore (the tanh score through a sigmoid, backward written
                      out); FastMultiHeadAttention (one matmul for K and V, torch's fused kernel
                      on CUDA, a real-tokens path, one-query attention for decoding steps)
    gru.py            PackedGRUEncoder: the GRU encoder as PackedGRU, backward written out
    bahdanau_gru.py   FusedBahdanauDecoder: the Bahdanau loop of a one-layer GRU as one autograd
                      Function, backward written out
    transformer.py    RealTokenTransformer: position-wise layers on the real tokens only;
                      decoding steps on (B, H) rows, the key/value cache in growing buffers
    linear.py         output_logits, decoder_logits: the output layer through oneDNN when
                      autograd is off (decoding); AlignedOutputLinear: in training, the logits
                      in rows aligned to 8 floats
    readout.py        RealTokenFixedDecoder, RealTokenLuongDecoder, RealTokenBahdanauDecoder:
                      the recurrent decoders' output layer on the real target positions only
    dropout.py        Dropout: nn.Dropout with a cheaper mask on CPUs
    packing.py, real_tokens.py   the layouts the above run on
"""
