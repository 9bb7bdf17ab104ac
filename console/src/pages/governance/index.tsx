// The governance area (placeholder until its pages are built).
export function GovernanceArea({ route }: { route: string[] }) {
  return (
    <div>
      <h1>Governance</h1>
      <p>{route.join('/')}</p>
    </div>
  );
}
