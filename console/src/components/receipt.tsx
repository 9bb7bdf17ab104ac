// A transaction's receipt: download it, and verify it in this page (placeholder: the in-page
// verification is being built in lib/receipt.ts).
import { useState } from 'react';
import { api } from '../lib/api.js';
import { ErrorNote } from './ui.js';

export function ReceiptPanel({ txId }: { txId: string }) {
  const [error, setError] = useState<unknown>(undefined);
  const download = async () => {
    setError(undefined);
    try {
      const receipt = await api<unknown>('GET', `/v1/tx/${txId}/receipt`);
      const url = URL.createObjectURL(
        new Blob([JSON.stringify(receipt, null, 2)], { type: 'application/json' }),
      );
      const link = document.createElement('a');
      link.href = url;
      link.download = `receipt-${txId}.json`;
      link.click();
      URL.revokeObjectURL(url);
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <div className="receipt">
      <button type="button" className="secondary" onClick={() => void download()}>
        Download receipt
      </button>
      <ErrorNote error={error} />
    </div>
  );
}
