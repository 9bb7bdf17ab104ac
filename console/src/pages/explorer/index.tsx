// The explorer area (placeholder until its pages are built).
export function ExplorerArea({ route }: { route: string[] }) {
  return (
    <div>
      <h1>Explorer</h1>
      <p>{route.join('/')}</p>
    </div>
  );
}
