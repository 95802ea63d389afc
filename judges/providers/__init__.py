"""Model providers: each turns a ModelRequest into a Completion. Built-ins use the same seam as extensions."""

from judges.providers._base import Provider, ProviderInfo
from judges.providers.embedded import EmbeddedLlamaProvider
from judges.providers.fakes import FakeFunctionProvider, FakeScriptedProvider
from judges.providers.llama import LlamaCppProvider, default_gguf_path
from judges.providers.openai_compat import OpenAICompatibleProvider

__all__ = [
    "EmbeddedLlamaProvider",
    "FakeFunctionProvider",
    "FakeScriptedProvider",
    "LlamaCppProvider",
    "OpenAICompatibleProvider",
    "Provider",
    "ProviderInfo",
    "default_gguf_path",
]
