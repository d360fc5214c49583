// The real Firebase JS SDK (the `firebase` package pinned in package-lock.json) against the
// local stack, as a client app would use it: the README's live listeners on the user's own
// documents, and every read and write firestore.rules must refuse.
//
//   node probes.mjs <firestore host:port> <api url> <project>
//
// Prints one JSON object on stdout: {"listeners": {...}, "probes": [...]}, where each probe
// is {name, expect: "allowed" | "denied", outcome: "allowed" | "denied" | "error" |
// "timeout", code}. Every wait has a deadline; the whole run has one too.
// tests/firebase_sdk/test_firebase_sdk.py runs it and asserts the outcomes.

import { deleteApp, initializeApp } from "firebase/app";
import {
  addDoc,
  collection,
  connectFirestoreEmulator,
  deleteDoc,
  doc,
  getDoc,
  getDocs,
  getFirestore,
  onSnapshot,
  orderBy,
  query,
  setDoc,
  updateDoc,
  where,
} from "firebase/firestore";

const [emulator, apiUrl, projectId] = process.argv.slice(2);
if (!emulator || !apiUrl || !projectId) {
  console.error("usage: node probes.mjs <firestore host:port> <api url> <project>");
  process.exit(2);
}
const [emulatorHost, emulatorPort] = [
  emulator.slice(0, emulator.lastIndexOf(":")),
  Number(emulator.slice(emulator.lastIndexOf(":") + 1)),
];
const STEP_MS = 20_000; // one read, write or API call
const LISTEN_MS = 60_000; // pending/processing -> draft on a busy machine
const RUN_MS = 240_000; // the whole run
setTimeout(() => {
  console.error(`probes.mjs: the run took over ${RUN_MS} ms`);
  process.exit(3);
}, RUN_MS).unref();

const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const ann = `ann-${suffix}`;
const ben = `ben-${suffix}`;
const apps = [];

// One Firebase app per identity: signed in as `uid` (an emulator ID token, as the emulator
// accepts from connectFirestoreEmulator's mockUserToken), or anonymous.
function firestoreAs(uid) {
  const app = initializeApp({ projectId, apiKey: "demo-key" }, uid ?? "anonymous");
  apps.push(app);
  const db = getFirestore(app);
  connectFirestoreEmulator(
    db,
    emulatorHost,
    emulatorPort,
    uid ? { mockUserToken: { user_id: uid, sub: uid } } : {},
  );
  return db;
}

function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(what), { code: "timeout" })), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function submit(uid, prompt) {
  const response = await withDeadline(
    fetch(`${apiUrl}/api/generate/video`, {
      method: "POST",
      headers: { Authorization: `Bearer dev:${uid}`, "Content-Type": "application/json" },
      body: JSON.stringify({ prompt }),
    }),
    STEP_MS,
    "submit",
  );
  const body = await response.json();
  if (response.status !== 202) {
    throw new Error(`submit for ${uid}: ${response.status} ${JSON.stringify(body)}`);
  }
  return body;
}

// The statuses a listener sees, in order (repeats collapsed), until `done` or its deadline.
function listen(target, pick, done) {
  const seen = [];
  let stop;
  const finished = new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), LISTEN_MS);
    const end = (how) => {
      clearTimeout(timer);
      resolve(how);
    };
    stop = onSnapshot(
      target,
      (snap) => {
        const status = pick(snap);
        if (status !== undefined && seen[seen.length - 1] !== status) seen.push(status);
        if (done(status)) end("done");
      },
      (error) => {
        seen.push(`error:${error.code}`);
        end("error");
      },
    );
  });
  return {
    seen,
    result: finished.then((how) => {
      stop();
      return how;
    }),
  };
}

const probes = [];

async function probe(name, expect, action) {
  let outcome;
  let code = null;
  try {
    await withDeadline(Promise.resolve().then(action), STEP_MS, name);
    outcome = "allowed";
  } catch (error) {
    code = error.code ?? String(error);
    outcome = code === "permission-denied" ? "denied" : code === "timeout" ? "timeout" : "error";
  }
  probes.push({ name, expect, outcome, code });
}

// A listener that the rules refuse fails with permission-denied; one that they allow gets a
// snapshot from the server. (The SDK may first hand a query listener what its local cache
// holds, `fromCache: true`, before the server refuses it: that is not an answer.)
function listenOnce(target) {
  return new Promise((resolve, reject) => {
    const stop = onSnapshot(
      target,
      { includeMetadataChanges: true },
      (snap) => {
        if (snap.metadata.fromCache) return;
        stop();
        resolve();
      },
      reject,
    );
  });
}

async function main() {
  const asAnn = firestoreAs(ann);
  const asBen = firestoreAs(ben);
  const anonymous = firestoreAs(null);

  // The README's history listener, started before the submit: it sees the creation from
  // its first state on.
  const history = query(
    collection(asAnn, "creations"),
    where("userId", "==", ann),
    orderBy("createdAt", "desc"),
  );
  let annCreation = null;
  const onHistory = listen(
    history,
    (snap) => {
      const mine = snap.docs.find((d) => d.id === annCreation) ?? snap.docs[0];
      return mine?.data().status;
    },
    (status) => status === "draft" || status === "failed",
  );
  const annSubmitted = await submit(ann, "a red fox running through snow");
  annCreation = annSubmitted.creationId;
  // The README's one-creation listener, after the 202.
  const onCreation = listen(
    doc(asAnn, "creations", annCreation),
    (snap) => snap.data()?.status,
    (status) => status === "draft" || status === "failed",
  );
  const benCreation = (await submit(ben, "a heron over a lake")).creationId;
  const [historyResult, creationResult] = await Promise.all([onHistory.result, onCreation.result]);

  // What the rules allow: a signed-in user's own documents.
  const own = [
    ["own users/<uid> get", () => getDoc(doc(asAnn, "users", ann))],
    ["own creation get", () => getDoc(doc(asAnn, "creations", annCreation))],
    ["own ledger entry get", () => getDoc(doc(asAnn, "transactions", `debit-${annCreation}`))],
    [
      "own creations query",
      () => getDocs(query(collection(asAnn, "creations"), where("userId", "==", ann))),
    ],
    [
      "own ledger query",
      () => getDocs(query(collection(asAnn, "transactions"), where("userId", "==", ann))),
    ],
    ["own users/<uid> listener", () => listenOnce(doc(asAnn, "users", ann))],
  ];
  for (const [name, action] of own) await probe(name, "allowed", action);

  // What they refuse.
  const forbidden = [
    ["another user's users/ doc", () => getDoc(doc(asAnn, "users", ben))],
    ["another user's creation", () => getDoc(doc(asAnn, "creations", benCreation))],
    ["another user's ledger entry", () => getDoc(doc(asAnn, "transactions", `debit-${benCreation}`))],
    ["another user's creation listener", () => listenOnce(doc(asAnn, "creations", benCreation))],
    [
      "another user's creations query",
      () => getDocs(query(collection(asAnn, "creations"), where("userId", "==", ben))),
    ],
    ["list all creations", () => getDocs(collection(asAnn, "creations"))],
    ["list all creations listener", () => listenOnce(collection(asAnn, "creations"))],
    ["list all users", () => getDocs(collection(asAnn, "users"))],
    ["list all ledger entries", () => getDocs(collection(asAnn, "transactions"))],
    ["list idempotency keys", () => getDocs(collection(asAnn, "idempotencyKeys"))],
    ["list queue changes", () => getDocs(collection(asAnn, "queueChanges"))],
    ["anonymous own-uid users/ doc", () => getDoc(doc(anonymous, "users", ann))],
    ["anonymous creation", () => getDoc(doc(anonymous, "creations", annCreation))],
    [
      "anonymous creations query",
      () => getDocs(query(collection(anonymous, "creations"), where("userId", "==", ann))),
    ],
    ["updateDoc own tokens", () => updateDoc(doc(asAnn, "users", ann), { tokens: 1_000_000 })],
    [
      "setDoc own users/ doc",
      () => setDoc(doc(asAnn, "users", ann), { tokens: 1_000_000 }, { merge: true }),
    ],
    [
      "updateDoc own creation status",
      () => updateDoc(doc(asAnn, "creations", annCreation), { status: "pending", refunded: false }),
    ],
    [
      "addDoc ledger grant",
      () =>
        addDoc(collection(asAnn, "transactions"), {
          userId: ann,
          type: "grant",
          amount: 1000,
        }),
    ],
    [
      "addDoc creation",
      () => addDoc(collection(asAnn, "creations"), { userId: ann, status: "draft" }),
    ],
    ["write unknown collection", () => setDoc(doc(asAnn, "notes", "n1"), { userId: ann })],
    ["anonymous write unknown collection", () => setDoc(doc(anonymous, "notes", "n2"), { a: 1 })],
    ["delete own creation", () => deleteDoc(doc(asAnn, "creations", annCreation))],
    ["delete own users/ doc", () => deleteDoc(doc(asAnn, "users", ann))],
    ["delete another user's creation", () => deleteDoc(doc(asBen, "creations", annCreation))],
  ];
  for (const [name, action] of forbidden) await probe(name, "denied", action);

  return {
    uids: { ann, ben },
    creations: { ann: annCreation, ben: benCreation },
    charged: { ann: annSubmitted.tokensCharged },
    listeners: {
      history: { seen: onHistory.seen, result: historyResult },
      creation: { seen: onCreation.seen, result: creationResult },
    },
    probes,
  };
}

let exitCode = 0;
let report;
try {
  report = await main();
} catch (error) {
  report = { error: String(error?.stack ?? error), probes };
  exitCode = 1;
}
await withDeadline(Promise.all(apps.map((app) => deleteApp(app))), STEP_MS, "deleteApp").catch(
  () => {},
);
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(exitCode);
