// The custody area (placeholder until its pages are built).
export function CustodyArea({ route }: { route: string[] }) {
  return (
    <div>
      <h1>Custody</h1>
      <p>{route.join('/')}</p>
    </div>
  );
}
