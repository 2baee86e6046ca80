/* The depth-first walk of Python ASTs that `pyscan` uses, in C: the same nodes in the same order
   as `pyscan._walk_py` (a stack: a node is visited, then its children are pushed field by field,
   list items in order, so the last child is visited first), about five times faster.

   Building a scan walks every node of every parsed module; in Python that walk cost as much as
   parsing itself. This module is optional: `pyscan` falls back to the Python walk when it is not
   built (no compiler), and tests/test_git_scan_cpu.py checks that both give the same nodes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject **items;
    Py_ssize_t len, cap;
} Stack;

static int push(Stack *s, PyObject *o) {
    if (s->len == s->cap) {
        Py_ssize_t cap = s->cap ? s->cap * 2 : 256;
        PyObject **items = PyMem_Realloc(s->items, cap * sizeof(PyObject *));
        if (!items) {
            PyErr_NoMemory();
            return -1;
        }
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len++] = o;
    return 0;
}

static int count_name(PyObject *counts, PyObject *node, PyObject *id_str) {
    PyObject *name = PyObject_GetAttr(node, id_str);
    if (!name) return -1;
    PyObject *c = PyDict_GetItemWithError(counts, name);
    if (!c && PyErr_Occurred()) {
        Py_DECREF(name);
        return -1;
    }
    long v = c ? PyLong_AsLong(c) : 0;
    if (v == -1 && PyErr_Occurred()) {
        Py_DECREF(name);
        return -1;
    }
    PyObject *nv = PyLong_FromLong(v + 1);
    int r = nv ? PyDict_SetItem(counts, name, nv) : -1;
    Py_XDECREF(nv);
    Py_DECREF(name);
    return r;
}

/* walk(roots, ast_type, fields, fields_of, select, skip, name_type, counts) -> list

   roots      list of nodes: the starting stack, its last item visited first (not changed)
   ast_type   ast.AST: what counts as a child node
   fields     dict type -> tuple of the names of the fields that can hold nodes; a type not in it
              is looked up by calling fields_of(type) (which adds it to the dict)
   select     dict whose keys are the node types to return, or None for every node
   skip       set of node types neither returned nor entered, or None
   name_type  ast.Name
   counts     dict, or None: each node of name_type visited adds one to counts[node.id] */
static PyObject *walk(PyObject *self, PyObject *args) {
    PyObject *roots, *ast_type, *fields, *fields_of, *select, *skip, *name_type, *counts;
    if (!PyArg_ParseTuple(args, "O!O!O!OOOOO", &PyList_Type, &roots, &PyType_Type, &ast_type,
                          &PyDict_Type, &fields, &fields_of, &select, &skip, &name_type, &counts))
        return NULL;
    int selecting = select != Py_None, skipping = skip != Py_None, counting = counts != Py_None;
    if (selecting && !PyDict_Check(select)) {
        PyErr_SetString(PyExc_TypeError, "select must be a dict or None");
        return NULL;
    }
    if (skipping && !PyAnySet_Check(skip)) {
        PyErr_SetString(PyExc_TypeError, "skip must be a set or None");
        return NULL;
    }
    if (counting && !PyDict_Check(counts)) {
        PyErr_SetString(PyExc_TypeError, "counts must be a dict or None");
        return NULL;
    }
    static PyObject *id_str = NULL;
    if (!id_str && !(id_str = PyUnicode_InternFromString("id"))) return NULL;

    PyObject *out = PyList_New(0);
    /* Children are read from their parents' attribute dicts (where the parser stores them),
       which nothing changes during the walk: the stack borrows them. `held` keeps the field
       tuples made by fields_of until the walk ends. */
    PyObject *held = PyList_New(0);
    PyObject *dict = NULL;
    Stack st = {0};
    if (!out || !held) goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(roots); i++)
        if (push(&st, PyList_GET_ITEM(roots, i)) < 0) goto fail;

    while (st.len) {
        PyObject *n = st.items[--st.len];
        PyObject *cls = (PyObject *)Py_TYPE(n);
        if (skipping) {
            int r = PySet_Contains(skip, cls);
            if (r < 0) goto fail;
            if (r) continue;
        }
        if (!selecting) {
            if (PyList_Append(out, n) < 0) goto fail;
        } else if (PyDict_GetItemWithError(select, cls)) {
            if (PyList_Append(out, n) < 0) goto fail;
        } else if (PyErr_Occurred()) {
            goto fail;
        }
        if (counting && cls == name_type && count_name(counts, n, id_str) < 0) goto fail;

        PyObject *names = PyDict_GetItemWithError(fields, cls);
        if (!names) {
            if (PyErr_Occurred()) goto fail;
            names = PyObject_CallOneArg(fields_of, cls);
            if (!names) goto fail;
            int r = PyList_Append(held, names);
            Py_DECREF(names);
            if (r < 0) goto fail;
        }
        if (!PyTuple_Check(names)) {
            PyErr_SetString(PyExc_TypeError, "fields must map types to tuples of field names");
            goto fail;
        }
        Py_ssize_t nfields = PyTuple_GET_SIZE(names);
        if (!nfields) continue;
        dict = PyObject_GenericGetDict(n, NULL);
        if (!dict) goto fail;
        for (Py_ssize_t f = 0; f < nfields; f++) {
            PyObject *value = PyDict_GetItemWithError(dict, PyTuple_GET_ITEM(names, f));
            if (!value) {
                if (PyErr_Occurred()) goto fail;
                continue; /* an absent field is None (getattr(n, name, None)) */
            }
            if (PyList_CheckExact(value)) {
                for (Py_ssize_t j = 0; j < PyList_GET_SIZE(value); j++) {
                    PyObject *v = PyList_GET_ITEM(value, j);
                    if (PyObject_TypeCheck(v, (PyTypeObject *)ast_type) && push(&st, v) < 0) goto fail;
                }
            } else if (PyObject_TypeCheck(value, (PyTypeObject *)ast_type)) {
                if (push(&st, value) < 0) goto fail;
            }
        }
        Py_CLEAR(dict);
    }
    PyMem_Free(st.items);
    Py_DECREF(held);
    return out;
fail:
    PyMem_Free(st.items);
    Py_XDECREF(dict);
    Py_XDECREF(held);
    Py_XDECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(roots, ast_type, fields, fields_of, select, skip, name_type, counts) -> list of nodes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_astwalk", "pyscan's AST walk, in C.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__astwalk(void) { return PyModule_Create(&module); }
