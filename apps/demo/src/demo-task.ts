/**
 * What the agent is asked to do, and the program the scripted model writes.
 * The Anthropic model gets the same task and writes its own program.
 */

/** Where the program lives inside the sandbox (absolute: deepagents' file tools require it). */
export const PROGRAM_PATH = "/workspace/word_stats.py";

/** The sentence the program analyses. */
export const SENTENCE = "the quick brown fox jumps over the lazy dog the end";

/** The user message. */
export const TASK = [
  `Write a Python program at ${PROGRAM_PATH} that counts the words of the sentence "${SENTENCE}",`,
  'prints the three most frequent words as "word: count" (most frequent first, ties in alphabetical order),',
  'then prints "total words: N". Run it with python3 using the execute tool.',
  "If it fails, read the file back, fix it with edit_file, and run it again.",
  "Finish by quoting the program's output.",
].join(" ");

/** System prompt: short, because deepagents adds its own tool guidance after it. */
export const SYSTEM_PROMPT =
  "You are a careful coding assistant. You work inside an isolated sandbox through your tools; " +
  "every file you write and every command you run happens there, not on the user's machine.";

/** The line with the bug: `dict.get` returns `None` for a word seen for the first time. */
export const BUGGY_LINE = "        counts[word] = counts.get(word) + 1";

/** The fixed line. */
export const FIXED_LINE = "        counts[word] = counts.get(word, 0) + 1";

/** The program the scripted model writes first, with the bug on {@link BUGGY_LINE}. */
export const BUGGY_PROGRAM = `"""Word statistics for one sentence (written by the demo agent)."""

SENTENCE = "${SENTENCE}"


def word_counts(text):
    counts = {}
    for word in text.split():
${BUGGY_LINE}
    return counts


counts = word_counts(SENTENCE)
top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
for word, count in top:
    print(f"{word}: {count}")
print(f"total words: {sum(counts.values())}")
`;

/** The program after the scripted model's `edit_file`. */
export const FIXED_PROGRAM = BUGGY_PROGRAM.replace(BUGGY_LINE, FIXED_LINE);

/** What {@link FIXED_PROGRAM} prints (python3 computes it; tests compare against it). */
export const EXPECTED_OUTPUT = "the: 3\nbrown: 1\ndog: 1\ntotal words: 11";

/** The command the scripted model runs. */
export const RUN_COMMAND = `python3 ${PROGRAM_PATH}`;
