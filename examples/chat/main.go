// Command chat holds a conversation about an image with LLaVA: each line
// read from standard input is a question, each answer is printed as it is
// generated, and the conversation so far goes with every question.
//
//	go run ./examples/chat cat.jpg
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"image"
	"log"
	"os"
	"strings"

	"github.com/goformer/goformer"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskChat), "Hub id or local model directory")
	maxTokens := flag.Int("max-tokens", 0, "most tokens per answer (0: the model's default)")
	flag.Parse()
	log.SetFlags(0)
	if flag.NArg() != 1 {
		log.Fatal("usage: chat [-model ID] [-max-tokens N] IMAGE < questions")
	}
	ctx := context.Background()

	chat, model, err := goformer.LoadAs[goformer.Chatter](ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	img, err := goformer.DecodeImageFile(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	images := []image.Image{img}
	var history []goformer.Message
	for in := bufio.NewScanner(os.Stdin); in.Scan(); {
		question := strings.TrimSpace(in.Text())
		if question == "" {
			continue
		}
		// The image goes with the first question.
		history = append(history, goformer.Message{Role: goformer.RoleUser, Text: question, Images: images})
		images = nil
		res, err := chat.Chat(ctx, history, goformer.ChatOptions{
			MaxNewTokens: *maxTokens,
			OnToken:      func(piece string) { fmt.Print(piece) },
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println()
		history = append(history, goformer.Message{Role: goformer.RoleAssistant, Text: res.Text})
	}
}
