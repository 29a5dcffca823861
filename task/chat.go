package task

import (
	"context"
	"image"
)

// Roles of the messages of a conversation (OpenAI's names).
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Chatter holds conversations about images: it writes the assistant's next
// message.
type Chatter interface {
	// Chat answers the conversation msgs, whose last message is the
	// user's. Images go with the messages that show them.
	Chat(ctx context.Context, msgs []Message, opt ChatOptions) (*ChatResult, error)
}

// Message is one turn of a conversation.
type Message struct {
	// Role is RoleSystem, RoleUser or RoleAssistant.
	Role string `json:"role"`
	// Text is what the message says.
	Text string `json:"text"`
	// Images are the images the message shows (user messages only; the
	// model sees them before the text, as LLaVA's chat template puts them).
	Images []image.Image `json:"-"`
}

// ChatOptions configure Chat. The zero value decodes as the checkpoint's
// generation settings say (greedy search for LLaVA-1.5) up to the family's
// default length.
type ChatOptions struct {
	// MaxNewTokens bounds the generated tokens; 0 takes the family's
	// default.
	MaxNewTokens int `json:"max_new_tokens,omitempty"`
	// Temperature > 0 samples the answer with that temperature; 0 takes
	// the checkpoint's decoding (greedy unless its generation_config.json
	// samples). Negative values are refused.
	Temperature float64 `json:"temperature,omitempty"`
	// TopP in (0, 1) samples from the smallest set of likeliest tokens
	// whose probabilities add up to TopP (nucleus sampling); 0 and 1 keep
	// every token. It applies when sampling.
	TopP float64 `json:"top_p,omitempty"`
	// TopK > 0 samples from the TopK likeliest tokens only; 0 keeps every
	// token. It applies when sampling.
	TopK int `json:"top_k,omitempty"`
	// Seed seeds the sampling: the same seed gives the same answer (the
	// random source is not torch's, so answers differ from transformers'
	// for the same seed).
	Seed uint64 `json:"seed,omitempty"`
	// OnToken, when set, receives the answer's text as it is generated,
	// piece by piece (whole characters; special tokens left out): joined,
	// the pieces are ChatResult.Text.
	OnToken func(text string) `json:"-"`
}

// ChatResult is the assistant's answer.
type ChatResult struct {
	// Text is the decoded answer, special tokens left out.
	Text string `json:"text"`
	// IDs are the generated token ids (the end token included when one
	// ended the answer).
	IDs []int `json:"ids,omitempty"`
	// PromptTokens is the number of positions the prompt took in the
	// language model: its text tokens plus one per image feature (OpenAI's
	// prompt_tokens also counts images).
	PromptTokens int `json:"prompt_tokens"`
	// FinishReason is "stop" when the model ended its answer and
	// "length" when MaxNewTokens cut it (OpenAI's finish_reason).
	FinishReason string `json:"finish_reason"`
}

// Finish reasons of ChatResult.
const (
	FinishStop   = "stop"
	FinishLength = "length"
)
