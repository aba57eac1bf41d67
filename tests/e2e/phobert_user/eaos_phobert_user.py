"""A user's own EAOS model, written the way PhoBERT users write it (the e2e test's stand-in for
their code): transformers' RobertaModel (PhoBERT's architecture) + a batch_first
nn.TransformerEncoder + three token heads, built from the config.json saved beside the
checkpoint. forward returns a tuple (span, aspect, sentiment logits), each [B, T, labels].

config.json: {"phobert": {RobertaConfig fields}, "extra_layers", "extra_heads", "extra_ffn",
"num_span_labels", "num_aspects", "num_sentiments", "max_length"}.
"""
import torch
from torch import nn
from transformers import RobertaConfig, RobertaModel


class PhobertEAOS(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.phobert = RobertaModel(RobertaConfig(**config["phobert"]))
        hidden = self.phobert.config.hidden_size
        layer = nn.TransformerEncoderLayer(hidden, config["extra_heads"], config["extra_ffn"],
                                           dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, config["extra_layers"])
        self.dropout = nn.Dropout(0.1)
        self.span_head = nn.Linear(hidden, config["num_span_labels"])
        self.aspect_head = nn.Linear(hidden, config["num_aspects"])
        self.sentiment_head = nn.Linear(hidden, config["num_sentiments"])

    def forward(self, input_ids, attention_mask):
        h = self.phobert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        h = self.encoder(h, src_key_padding_mask=attention_mask == 0)
        h = self.dropout(h)
        return self.span_head(h), self.aspect_head(h), self.sentiment_head(h)
