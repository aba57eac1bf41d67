"""A user's own module for test_export_module.py: an embedding, a batch_first nn.TransformerEncoder
(whose nested-tensor fast path is on, as by default) and three heads; forward returns a dict under
the user's own key names. Built from a config dict like the export's --config gives it."""
import torch
from torch import nn


class UserEAOS(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden = config["hidden"]
        self.tok = nn.Module()
        self.tok.word_embeddings = nn.Embedding(config["vocab_size"], hidden, padding_idx=config.get("pad_id", 0))
        self.tok.positions = nn.Embedding(config["max_length"], hidden)
        layer = nn.TransformerEncoderLayer(hidden, config["heads"], 2 * hidden, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, config["layers"])
        self.span = nn.Linear(hidden, 5)
        self.aspect = nn.Linear(hidden, config["num_aspects"])
        self.sentiment = nn.Linear(hidden, config["num_sentiments"])
        with torch.no_grad():
            for head in (self.span, self.aspect, self.sentiment):
                head.weight.normal_(0.0, 2.0 / hidden ** 0.5)

    def forward(self, input_ids, attention_mask):
        pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        h = self.tok.word_embeddings(input_ids) + self.tok.positions(pos)
        h = self.encoder(h, src_key_padding_mask=attention_mask == 0)
        return {"tags": self.span(h), "aspects": self.aspect(h), "polarity": self.sentiment(h)}


def make(config):
    """The same as a factory function (--module user_module_fixture:make)."""
    return UserEAOS(config)
