package main

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"strings"

	"github.com/goformer/goformer"
)

// defaultChatModel is chat's model when -model is not given.
var defaultChatModel = goformer.DefaultModel(goformer.TaskChat)

// chatOptionFlags names the flag of each chat option (chat's top_k is
// -top-k, not classify's -k).
var chatOptionFlags = map[string]string{
	"max_new_tokens": "-max-tokens", "temperature": "-temperature", "top_p": "-top-p", "top_k": "-top-k", "seed": "-seed",
}

// maxPromptBytes bounds a prompt read from standard input.
const maxPromptBytes = 1 << 20

// ChatAnswer is chat's JSON output.
type ChatAnswer struct {
	Model            string   `json:"model"`
	Images           []string `json:"images,omitempty"`
	Prompt           string   `json:"prompt"`
	Text             string   `json:"text"`
	FinishReason     string   `json:"finish_reason"`
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
}

func runChat(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-image IMAGE]... [-system TEXT] [-max-tokens N] [-temperature T] [-top-p P] [-top-k K] [-seed N] [-format text|json] [-o FILE] PROMPT...

Asks a chat model (LLaVA) about images: the prompt is the rest of the command
line ("-" reads it from standard input). In the text format the answer is
written to standard output as it is generated.`
	fs := flagSet("chat")
	c := commonFlags(fs, defaultChatModel, "text", "text or json")
	images := &listFlag{}
	fs.Var(images, "image", `an image the prompt is about (repeatable; "-" reads standard input)`)
	system := fs.String("system", "", "a system message put before the prompt")
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate (0: the model's default)")
	temperature := fs.Float64("temperature", 0, "sample with this temperature (0: the model's decoding, greedy for LLaVA)")
	topP := fs.Float64("top-p", 0, "when sampling, keep the likeliest tokens up to this total probability (0 or 1: all)")
	topK := fs.Int("top-k", 0, "when sampling, keep the k likeliest tokens (0: all)")
	seed := fs.Uint64("seed", 0, "seed of the sampling (the same seed gives the same answer)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "text", "json"); err != nil {
		return err
	}
	opt := goformer.ChatOptions{MaxNewTokens: *maxTokens, Temperature: *temperature, TopP: *topP, TopK: *topK, Seed: *seed}
	if err := checkChatFlags(opt); err != nil {
		return err
	}
	prompt := strings.Join(pos, " ")
	if len(pos) == 1 && pos[0] == "-" {
		if dashImage(images.items) {
			return usagef(`"-" (standard input) given for both the prompt and an image`)
		}
		data, err := io.ReadAll(io.LimitReader(stdin, maxPromptBytes+1))
		if err != nil {
			return err
		}
		if len(data) > maxPromptBytes {
			return usagef("the prompt on standard input is longer than %d bytes", maxPromptBytes)
		}
		prompt = string(data)
	}
	if strings.TrimSpace(prompt) == "" && len(images.items) == 0 {
		return usagef("no prompt: give it after the flags, e.g. goformer chat -image cat.jpg \"What is in the picture?\"")
	}
	// The images are read before the model loads: a missing file fails
	// at once.
	var imgs []image.Image
	for _, name := range images.items {
		img, err := readImage(name)
		if err != nil {
			return withPath(displayName(name), err)
		}
		imgs = append(imgs, img)
	}
	m, err := e.loadFor(*c.model, goformer.TaskChat, opt)
	if err != nil {
		return err
	}
	defer m.Close()
	var msgs []goformer.Message
	if *system != "" {
		msgs = append(msgs, goformer.Message{Role: goformer.RoleSystem, Text: *system})
	}
	msgs = append(msgs, goformer.Message{Role: goformer.RoleUser, Text: prompt, Images: imgs})
	w, done := c.output(e)
	stream := *c.format == "text" && *c.out == ""
	streamed := false
	if stream {
		opt.OnToken = func(piece string) {
			io.WriteString(w, piece)
			streamed = true
		}
	}
	res, err := m.chat(e.ctx, msgs, opt)
	if err != nil {
		if streamed {
			fmt.Fprintln(w)
		}
		return done(err)
	}
	if *c.format == "json" {
		names := make([]string, len(images.items))
		for i, n := range images.items {
			names[i] = displayName(n)
		}
		return done(writeJSON(w, ChatAnswer{
			Model: m.Name, Images: names, Prompt: prompt, Text: res.Text, FinishReason: res.FinishReason,
			PromptTokens: res.PromptTokens, CompletionTokens: len(res.IDs),
		}))
	}
	if !stream {
		io.WriteString(w, res.Text)
	}
	fmt.Fprintln(w)
	return done(nil)
}

func dashImage(names []string) bool {
	for _, n := range names {
		if n == "-" {
			return true
		}
	}
	return false
}

// checkChatFlags checks the generation flags of chat before anything
// loads.
func checkChatFlags(o goformer.ChatOptions) error {
	switch {
	case o.MaxNewTokens < 0:
		return usagef("-max-tokens %d: want 0 (the model's default) or more", o.MaxNewTokens)
	case o.Temperature < 0 || math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0):
		return usagef("-temperature %g: want 0 (the model's decoding) or a positive value", o.Temperature)
	case !(o.TopP >= 0 && o.TopP <= 1):
		return usagef("-top-p %g: want a value from 0 to 1", o.TopP)
	case o.TopK < 0:
		return usagef("-top-k %d: want 0 (all) or more", o.TopK)
	}
	return nil
}

// chat asks the model about a conversation.
func (m *model) chat(ctx context.Context, msgs []goformer.Message, opt goformer.ChatOptions) (*goformer.ChatResult, error) {
	c, ok := m.Model.(goformer.Chatter)
	if !ok || !m.Supports(goformer.TaskChat) {
		return nil, m.wrongTask(goformer.TaskChat)
	}
	return c.Chat(ctx, msgs, opt)
}
