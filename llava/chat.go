package llava

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
)

// The conversation types are the front door's.
type (
	// Message is one turn of a conversation (task.Message).
	Message = task.Message
	// ChatOptions configure Chat (task.ChatOptions).
	ChatOptions = task.ChatOptions
	// ChatResult is the assistant's answer (task.ChatResult).
	ChatResult = task.ChatResult
)

// PromptStyle is how a conversation is written as a prompt.
type PromptStyle int

const (
	// StyleVicuna is LLaVA-1.5's conversation format (Vicuna v1) as the
	// llava-hf model cards write it: an optional system text, then
	//
	//	USER: <image>\n{question} ASSISTANT: {answer}</s>USER: {question} ASSISTANT:
	//
	// It is used when the checkpoint has no chat template.
	StyleVicuna PromptStyle = iota
	// StyleHFTemplate is what the chat_template of llava-hf's checkpoints
	// renders (tokenizer_config.json or chat_template.json): the same, but
	// an assistant turn ends with a space instead of </s>.
	StyleHFTemplate
)

// String names the style.
func (s PromptStyle) String() string {
	if s == StyleHFTemplate {
		return "hf-template"
	}
	return "vicuna"
}

// Limits of one conversation.
const (
	// MaxImages bounds the images of a conversation (each takes hundreds
	// of the language model's positions).
	MaxImages = 16
	// MaxMessages bounds the messages of a conversation.
	MaxMessages = 1024
	// MaxTextBytes bounds the text of a conversation, all messages
	// together (the language model's positions bound it further).
	MaxTextBytes = 1 << 20
)

// Template writes conversations as LLaVA-1.5 prompts.
type Template struct {
	// Style is the conversation format.
	Style PromptStyle
	// ImageToken stands for an image ("<image>"); EOS ends an assistant
	// turn in StyleVicuna ("</s>").
	ImageToken, EOS string
}

// Prompt writes msgs as a prompt ending where the assistant's answer
// begins, and returns it with the number of images, whose tokens it holds
// in the order of msgs. Each user message is "USER: ", one image token and
// a newline per image, its text and a space (none after an empty text);
// an assistant message is "ASSISTANT: ", its text and EOS (StyleVicuna) or
// a space (StyleHFTemplate); a system message is its text and a space; the
// prompt ends with "ASSISTANT:". Messages must be system, user or
// assistant ones, the last a user's; only user messages show images, and
// no text may hold the image token (it would stand for an image that is
// not there). Errors match ErrInput.
func (t Template) Prompt(msgs []Message) (string, int, error) {
	img := t.ImageToken
	if img == "" {
		img = "<image>"
	}
	eos := t.EOS
	if eos == "" {
		eos = "</s>"
	}
	if len(msgs) == 0 {
		return "", 0, fmt.Errorf("%w: no messages", ErrInput)
	}
	if len(msgs) > MaxMessages {
		return "", 0, fmt.Errorf("%w: %d messages, over the limit of %d", ErrInput, len(msgs), MaxMessages)
	}
	if r := msgs[len(msgs)-1].Role; r != task.RoleUser {
		return "", 0, fmt.Errorf("%w: the last message is the %s's; the conversation must end with the user's", ErrInput, roleName(r))
	}
	images, text := 0, 0
	for i, msg := range msgs {
		switch msg.Role {
		case task.RoleUser:
			if msg.Text == "" && len(msg.Images) == 0 {
				return "", 0, fmt.Errorf("%w: message %d (user) has neither text nor images", ErrInput, i)
			}
		case task.RoleSystem, task.RoleAssistant:
			if len(msg.Images) > 0 {
				return "", 0, fmt.Errorf("%w: message %d (%s) has images; only user messages show images", ErrInput, i, msg.Role)
			}
		default:
			return "", 0, fmt.Errorf("%w: message %d has role %q (want system, user or assistant)", ErrInput, i, msg.Role)
		}
		for j, im := range msg.Images {
			if im == nil {
				return "", 0, fmt.Errorf("%w: message %d: image %d is nil", ErrInput, i, j)
			}
		}
		if strings.Contains(msg.Text, img) {
			return "", 0, fmt.Errorf("%w: message %d holds the image token %s in its text; give images as images", ErrInput, i, img)
		}
		images += len(msg.Images)
		text += len(msg.Text)
	}
	if images > MaxImages {
		return "", 0, fmt.Errorf("%w: %d images, over the limit of %d", ErrInput, images, MaxImages)
	}
	if text > MaxTextBytes {
		return "", 0, fmt.Errorf("%w: %d bytes of text, over the limit of %d", ErrInput, text, MaxTextBytes)
	}
	var b strings.Builder
	b.Grow(text + len(msgs)*16 + images*(len(img)+1) + 16)
	for _, msg := range msgs {
		switch msg.Role {
		case task.RoleSystem:
			if msg.Text != "" {
				b.WriteString(msg.Text)
				b.WriteByte(' ')
			}
		case task.RoleUser:
			b.WriteString("USER: ")
			for range msg.Images {
				b.WriteString(img)
				b.WriteByte('\n')
			}
			if msg.Text != "" {
				b.WriteString(msg.Text)
				b.WriteByte(' ')
			}
		case task.RoleAssistant:
			b.WriteString("ASSISTANT: ")
			b.WriteString(msg.Text)
			if t.Style == StyleHFTemplate {
				b.WriteByte(' ')
			} else {
				b.WriteString(eos)
			}
		}
	}
	b.WriteString("ASSISTANT:")
	return b.String(), images, nil
}

func roleName(r string) string {
	if r == "" {
		return "unnamed role"
	}
	return fmt.Sprintf("%q role", r)
}

// readChatTemplate reads the chat template a checkpoint ships
// (tokenizer_config.json's chat_template, else chat_template.json's) and
// returns the style that renders as it does: StyleHFTemplate for llava-hf's
// template (roles upper-cased, images first, "ASSISTANT:" to answer),
// StyleVicuna when there is none or it is another (which this package
// cannot run).
func readChatTemplate(dir string) (PromptStyle, error) {
	for _, f := range []string{"tokenizer_config.json", "chat_template.json"} {
		path := filepath.Join(dir, f)
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("llava: %w", err)
		}
		var c struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return 0, fmt.Errorf("llava: %s: %w: %v", path, nn.ErrConfig, err)
		}
		if isNull(c.ChatTemplate) {
			continue
		}
		var tmpl string
		if json.Unmarshal(c.ChatTemplate, &tmpl) != nil {
			// A list of named templates: the default one.
			var named []struct{ Name, Template string }
			if err := json.Unmarshal(c.ChatTemplate, &named); err != nil {
				return 0, fmt.Errorf("llava: %s: %w: chat_template: %v", path, nn.ErrConfig, err)
			}
			for _, n := range named {
				if n.Name == "default" || tmpl == "" {
					tmpl = n.Template
				}
			}
		}
		if strings.Contains(tmpl, "message['role'].upper()") && strings.Contains(tmpl, "'ASSISTANT:'") {
			return StyleHFTemplate, nil
		}
		return StyleVicuna, nil
	}
	return StyleVicuna, nil
}

// Encode writes msgs as a prompt (see Template.Prompt) and returns its
// token ids as transformers' LlavaProcessor makes them (<s> in front, the
// special tokens written in the text recognised), and the images in the
// order of their <image> tokens.
func (m *Model) Encode(msgs []Message) ([]int, []image.Image, error) {
	if m.tok == nil {
		return nil, nil, errors.New("llava: no tokenizer: the model was not loaded from a directory with tokenizer.model or tokenizer.json (see WithTokenizer)")
	}
	prompt, n, err := m.tmpl.Prompt(msgs)
	if err != nil {
		return nil, nil, err
	}
	ids, err := m.tok.TryEncode(prompt, tokenizer.EncodeOptions{AllSpecial: true})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if got := len(m.imagePositions(ids)); got != n {
		return nil, nil, fmt.Errorf("%w: the prompt encodes %d image tokens for %d images", ErrInput, got, n)
	}
	imgs := make([]image.Image, 0, n)
	for _, msg := range msgs {
		imgs = append(imgs, msg.Images...)
	}
	return ids, imgs, nil
}

// DefaultChatTokens is the most tokens Chat generates when ChatOptions
// does not say (fewer when the prompt leaves fewer positions).
const DefaultChatTokens = 256

// CheckChatOptions tells whether Chat takes opt; the error is a
// *task.OptionError naming the option.
func CheckChatOptions(opt ChatOptions) error {
	bad := func(name, format string, a ...any) error {
		return &task.OptionError{Option: name, Err: fmt.Errorf("%w: %s", ErrInput, fmt.Sprintf(format, a...))}
	}
	switch {
	case opt.MaxNewTokens < 0:
		return bad("max_new_tokens", "max new tokens %d must not be negative", opt.MaxNewTokens)
	case opt.Temperature < 0 || math.IsNaN(opt.Temperature) || math.IsInf(opt.Temperature, 0):
		return bad("temperature", "temperature %g (want 0 for the checkpoint's decoding, or more to sample)", opt.Temperature)
	case !(opt.TopP >= 0 && opt.TopP <= 1):
		return bad("top_p", "top_p %g (want a value from 0 to 1)", opt.TopP)
	case opt.TopK < 0:
		return bad("top_k", "top_k %d must not be negative", opt.TopK)
	}
	return nil
}

// Chat answers a conversation about images: the messages are written as
// a LLaVA-1.5 prompt (Template.Prompt), the images put where their
// <image> tokens stand, and the assistant's answer generated until the end
// token or opt.MaxNewTokens (DefaultChatTokens when 0). Decoding is the
// checkpoint's (greedy for LLaVA-1.5) unless opt.Temperature > 0 asks for
// sampling; opt.OnToken streams the answer's text.
func (m *Model) Chat(ctx context.Context, msgs []Message, opt ChatOptions) (*ChatResult, error) {
	if err := CheckChatOptions(opt); err != nil {
		return nil, err
	}
	g := m.DefaultOptions()
	g.MaxNewTokens, g.MaxLength = DefaultChatTokens, 0
	switch {
	case opt.Temperature > 0:
		g.NumBeams = 1
		g.Sample = &generate.Sampling{Temperature: opt.Temperature, TopK: opt.TopK, TopP: opt.TopP, Seed: opt.Seed}
	case g.Sample != nil:
		if opt.TopK > 0 {
			g.Sample.TopK = opt.TopK
		}
		if opt.TopP > 0 {
			g.Sample.TopP = opt.TopP
		}
		g.Sample.Seed = opt.Seed
	}
	return m.respond(ctx, msgs, g, opt.MaxNewTokens, opt.OnToken)
}

// respond writes msgs as a prompt, runs the images and generates the
// answer with g. maxNew > 0 is the number of new tokens asked for (an
// error when the prompt leaves fewer positions); with 0, g's own bound
// (MaxNewTokens, else MaxLength counted in prompt ids) is lowered to the
// positions the prompt leaves.
func (m *Model) respond(ctx context.Context, msgs []Message, g llm.GenerateOptions, maxNew int, onText func(string)) (*ChatResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ids, imgs, err := m.Encode(msgs)
	if err != nil {
		return nil, err
	}
	positions := len(ids) - len(imgs) + len(imgs)*m.cfg.FeatureRows()
	room := m.cfg.Text.MaxPositions - positions + 1
	if room < 1 {
		return nil, fmt.Errorf("%w: the prompt takes %d positions, the language model has %d", ErrInput, positions, m.cfg.Text.MaxPositions)
	}
	if maxNew > 0 {
		g.MaxNewTokens = maxNew
	} else {
		if g.MaxNewTokens <= 0 {
			g.MaxNewTokens = g.MaxLength - len(ids)
			if g.MaxNewTokens < 1 {
				return nil, fmt.Errorf("%w: the prompt has %d tokens and the checkpoint's max_length is %d: nothing left to generate", ErrInput, len(ids), g.MaxLength)
			}
		}
		g.MaxNewTokens = min(g.MaxNewTokens, room)
	}
	g.MaxLength = 0
	if g.MaxNewTokens > room {
		return nil, fmt.Errorf("%w: the prompt takes %d of the language model's %d positions: room for %d new tokens, not %d", ErrInput, positions, m.cfg.Text.MaxPositions, room, g.MaxNewTokens)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pixels *tensor.Tensor
	if len(imgs) > 0 {
		if pixels, err = m.PixelValues(imgs); err != nil {
			return nil, err
		}
		defer tensor.Release(pixels)
	}
	var dec *tokenizer.StreamDecoder
	if onText != nil && g.NumBeams <= 1 {
		dec = m.tok.NewStreamDecoder(true)
		g.OnToken = func(id int) {
			if s := dec.Push(id); s != "" {
				onText(s)
			}
		}
	}
	out, err := m.Generate(ctx, ids, pixels, g)
	if err != nil {
		return nil, err
	}
	newIDs := out[len(ids):]
	res := &ChatResult{
		Text:         m.tok.Decode(newIDs, true),
		IDs:          newIDs,
		PromptTokens: positions,
		FinishReason: task.FinishLength,
	}
	if n := len(newIDs); n > 0 && isEnd(newIDs[n-1], g.EOS) {
		res.FinishReason = task.FinishStop
	}
	switch {
	case dec != nil:
		if s := dec.Flush(); s != "" {
			onText(s)
		}
	case onText != nil && res.Text != "":
		onText(res.Text)
	}
	return res, nil
}

func isEnd(id int, eos []int) bool {
	for _, e := range eos {
		if id == e {
			return true
		}
	}
	return false
}
