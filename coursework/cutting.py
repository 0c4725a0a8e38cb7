"""Cutting exercises out of source text and putting code back: function bodies and docstrings
are found with `ast` (exact line ranges), so every other line of a file stays as it was."""
import ast
import functools
import io
import re
import textwrap
import tokenize

STUB_PREFIX = "Exercise:"
# The part of an op's docstring that is the answer is marked by whoever writes the op: it
# starts at a sentence that begins with the word Backward ("Backward: d/dx = out.",
# "Backward, with s = out: ...") and runs to the end of that paragraph.  Only that part goes,
# whatever its words; the rest stays, whatever its words (docs/EXTENDING.md, section 4).
ANSWER_MARK = re.compile(r"(?:^[ \t]*|(?<=[.:;])[ \t]+|\n[ \t]*)(?=Backward\b)")


def function_nodes(tree):
    """{qualname: FunctionDef} for module functions and methods of module-level classes."""
    nodes = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            nodes[node.name] = node
        elif isinstance(node, ast.ClassDef):
            nodes[node.name] = node
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    nodes[f"{node.name}.{item.name}"] = item
    return nodes


def method_of(class_node, name):
    return next((n for n in class_node.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def has_docstring(node):
    first = node.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def body_lines(source, node):
    """(first, last): the 1-based line range of a function's body after its docstring,
    which is what an exercise replaces.  Comments right under the signature belong to it."""
    docstring = node.body[0] if has_docstring(node) else None
    first = docstring.end_lineno + 1 if docstring else header_end(source, node) + 1
    if len(node.body) == (1 if docstring else 0):
        raise ValueError(f"coursework: {node.name} has nothing but a docstring to take out")
    if node.body[1 if docstring else 0].lineno < first:
        raise ValueError(f"coursework: {node.name} (line {node.lineno}) has code on its signature or "
                         f"docstring line; put the body on lines of its own to make it an exercise")
    return first, node.end_lineno


def header_end(source, node):
    """The line of the colon that ends a def's signature (it may span several lines)."""
    lines = source.splitlines(keepends=True)[node.lineno - 1:]
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
            return node.lineno + tok.start[0] - 1
    raise ValueError(f"coursework: cannot find the end of the signature of {node.name}")


def is_stub(node, any_raise=False):
    """True if the body (after the docstring) is one `raise NotImplementedError(...)`;
    with any_raise False, only one whose message contains 'Exercise:'."""
    if node is None:
        return False
    body = node.body[1:] if has_docstring(node) else node.body
    if len(body) != 1 or not isinstance(body[0], ast.Raise):
        return False
    exc = body[0].exc
    call = exc if isinstance(exc, ast.Call) else None
    name = (call.func if call else exc)
    if not (isinstance(name, ast.Name) and name.id == "NotImplementedError"):
        return False
    return any_raise or (bool(call and call.args) and STUB_PREFIX in ast.unparse(call.args[0]))


@functools.lru_cache(maxsize=64)
def nodes_of(source):
    """function_nodes of a source text, parsed once (a file is looked at many times)."""
    return function_nodes(ast.parse(source))


def node_of(source, qualname):
    node = nodes_of(source).get(qualname)
    if node is None:
        raise ValueError(f"coursework: no function {qualname} in this file")
    return node


def replace_lines(source, first, last, new_lines):
    lines = source.splitlines(keepends=True)
    return "".join(lines[:first - 1] + list(new_lines) + lines[last:])


def replace_body(source, qualname, new_body_lines):
    """source with the body of `qualname` (after its docstring) replaced by the given lines."""
    first, last = body_lines(source, node_of(source, qualname))
    return replace_lines(source, first, last, new_body_lines)


def docstring_lines(source, qualname):
    """The source lines of the docstring of a class or function ([] if it has none)."""
    node = node_of(source, qualname)
    if not has_docstring(node):
        return []
    return source.splitlines(keepends=True)[node.body[0].lineno - 1:node.body[0].end_lineno]


def replace_docstring(source, qualname, new_lines):
    """source with the docstring of `qualname` replaced by `new_lines` (inserted if it had none)."""
    node = node_of(source, qualname)
    if has_docstring(node):
        return replace_lines(source, node.body[0].lineno, node.body[0].end_lineno, new_lines)
    line = header_end(source, node)
    return replace_lines(source, line + 1, line, new_lines)


def format_docstring(text, indent):
    """A docstring literal's lines for `text`, indented like the code it documents."""
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""\n']
    return [f'{indent}"""{lines[0]}\n'] + [f"{indent}{line}\n".rstrip(" ") if line.strip() else "\n"
                                             for line in lines[1:]] + [f'{indent}"""\n']


def without_answer(doc):
    """A docstring with its marked answer taken out: from each sentence that begins with
    `Backward` to the end of its paragraph (see ANSWER_MARK).  Returns (kept text, [removed parts])."""
    kept, removed = [], []
    for paragraph in doc.strip().split("\n\n"):
        mark = ANSWER_MARK.search(paragraph)
        if mark is None:
            kept.append(paragraph)
            continue
        # ("Backward:" itself goes too, but is not part of the rule that other files might quote)
        removed.append(re.sub(r"^Backward:\s*", "", paragraph[mark.end():].strip()))
        if paragraph[:mark.start()].strip():
            kept.append(paragraph[:mark.start()].rstrip())
    if removed and not kept:
        kept = ["Shared by the ops that inherit it: their backward is the exercise."]
    return "\n\n".join(kept), removed


def has_answer(doc):
    """True if the docstring marks an answer (a sentence that begins with `Backward`)."""
    return any(ANSWER_MARK.search(paragraph) for paragraph in doc.strip().split("\n\n"))


def stub_lines(source, target):
    """The lines an exercise's body becomes: a comment saying what to write, and the raise."""
    node = node_of(source, target.qualname)
    indent = " " * (node.body[1 if has_docstring(node) else 0].col_offset)
    if target.kind == "op":
        inputs = ", ".join(a.arg for a in node.args.args[1:] if a.arg not in ("grad", "out"))
        if node.args.vararg:  # Einsum: backward(self, grad, *operands_and_out)
            inputs = f"the operands: *{node.args.vararg.arg} without its last item, out"
        sharing = f", shared by {', '.join(target.shared_by)}" if target.shared_by else ""
        comment = (f"return one gradient per input ({inputs}) from grad = dL/d(out){sharing}, the forward "
                   "above being what the class docstring describes. Use NumPy functions and operators only "
                   "(np.exp, .sum(axis=, keepdims=), @, ...): under create_graph=True they run on Tensors.")
    elif target.kind == "jvp":
        comment = ("return the output's tangent J ṫ from `tangents`, one per input (an array of the input's "
                   "shape, or None for an input without one): the transpose of the backward rule above, "
                   "so that <v, J u> = <Jᵀ v, u>. NumPy functions and operators only, as in backward.")
    else:
        comment = (f"compute what the docstring describes, from minigrad ops (minigrad.functional as F, "
                   "Tensor operators) and the layer's parameters: the engine then derives backward by itself.")
    message = f"{STUB_PREFIX} write {target.qualname} (see EXERCISES.md)"
    lines = textwrap.wrap("Exercise: " + comment, width=max(40, 92 - len(indent)))
    return [f"{indent}# {line}\n" for line in lines] + [f'{indent}raise NotImplementedError("{message}")\n']


def required_checks(source, qualname):
    """What the reference body raises or checks, as sentences for the exercise's docstring:
    the tests match those error messages, so the exercise must say they are required."""
    helpers = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
    notes = []
    for sub in ast.walk(node_of(source, qualname)):
        if isinstance(sub, ast.Raise) and isinstance(sub.exc, ast.Call) and sub.exc.args:
            notes.append(f"Raise {ast.get_source_segment(source, sub.exc)}: the tests match this message.")
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and "check" in sub.func.id:
            helper = helpers.get(sub.func.id)
            said = " ".join((ast.get_docstring(helper) or "").split("\n\n")[0].split()) if helper else ""
            notes.append(f"Check the input with `{sub.func.id}`" + (f" (in this file: {said.rstrip('.')})" if said else "")
                         + ": the tests match its error messages.")
    text = " ".join(["Errors the tests expect:"] + list(dict.fromkeys(notes))) if notes else ""
    return "\n".join(textwrap.wrap(text, width=84))
